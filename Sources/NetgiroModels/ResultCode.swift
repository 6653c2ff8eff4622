/// Netgíró's `ResultCode`, one case per documented meaning. Unknown codes are kept as
/// ``unknown(_:)``, never dropped. `code` gives the number back.
public enum ResultCode: Sendable, Hashable, CustomStringConvertible {
    /// 200: generic success.
    case ok
    /// 400: generic error (often a malformed request).
    case badRequest
    /// 500: generic server error.
    case serverError
    /// 10200: payment completed (`PaymentSuccessful` true).
    case paymentCompleted
    /// 10201: payment cancelled — also what Netgíró answers when the cart does not exist.
    case paymentCancelled
    /// 10202: the cart was already cancelled.
    case alreadyCancelled
    /// 10203: the cart was already confirmed.
    case alreadyConfirmed
    /// 10302, 10307, 10422, 10423: the customer declined (or could not pay). The code is kept.
    case customerDeclined(Int)
    /// 10304: cart not valid.
    case cartNotValid
    /// 10305: amount below the minimum.
    case belowMinimumAmount
    /// 10306: no such customer.
    case customerDoesNotExist
    /// 10424: cart not found.
    case cartNotFound
    /// 10425: waiting for the customer to confirm in the app.
    case pendingCustomerConfirmation
    /// 10426: reservation made (Manual): the provider must call ConfirmCart.
    case reservationAwaitingConfirmCart
    /// 10427: invalid confirmation type.
    case invalidConfirmationType
    /// 10428: additional confirmation needed: collect the SMS payment code, then ConfirmCart
    /// with `Identifier`.
    case smsCodeRequired
    /// 10429: reservation waiting for the provider's answer to the ServerCallback.
    case awaitingCallbackResponse
    /// Any other code.
    case unknown(Int)

    public static let declineCodes: Set<Int> = [10302, 10307, 10422, 10423]

    public init(code: Int) {
        switch code {
        case 200: self = .ok
        case 400: self = .badRequest
        case 500: self = .serverError
        case 10200: self = .paymentCompleted
        case 10201: self = .paymentCancelled
        case 10202: self = .alreadyCancelled
        case 10203: self = .alreadyConfirmed
        case let c where Self.declineCodes.contains(c): self = .customerDeclined(c)
        case 10304: self = .cartNotValid
        case 10305: self = .belowMinimumAmount
        case 10306: self = .customerDoesNotExist
        case 10424: self = .cartNotFound
        case 10425: self = .pendingCustomerConfirmation
        case 10426: self = .reservationAwaitingConfirmCart
        case 10427: self = .invalidConfirmationType
        case 10428: self = .smsCodeRequired
        case 10429: self = .awaitingCallbackResponse
        default: self = .unknown(code)
        }
    }

    public var code: Int {
        switch self {
        case .ok: return 200
        case .badRequest: return 400
        case .serverError: return 500
        case .paymentCompleted: return 10200
        case .paymentCancelled: return 10201
        case .alreadyCancelled: return 10202
        case .alreadyConfirmed: return 10203
        case .customerDeclined(let c): return c
        case .cartNotValid: return 10304
        case .belowMinimumAmount: return 10305
        case .customerDoesNotExist: return 10306
        case .cartNotFound: return 10424
        case .pendingCustomerConfirmation: return 10425
        case .reservationAwaitingConfirmCart: return 10426
        case .invalidConfirmationType: return 10427
        case .smsCodeRequired: return 10428
        case .awaitingCallbackResponse: return 10429
        case .unknown(let c): return c
        }
    }

    /// Every documented code, for exhaustive tests and the simulator.
    public static let documentedCodes: [Int] = [
        200, 400, 500, 10200, 10201, 10202, 10203, 10302, 10304, 10305, 10306, 10307, 10422, 10423,
        10424, 10425, 10426, 10427, 10428, 10429,
    ]

    public var description: String {
        switch self {
        case .ok: return "200 ok"
        case .badRequest: return "400 error"
        case .serverError: return "500 server error"
        case .paymentCompleted: return "10200 payment completed"
        case .paymentCancelled: return "10201 payment cancelled"
        case .alreadyCancelled: return "10202 already cancelled"
        case .alreadyConfirmed: return "10203 already confirmed"
        case .customerDeclined(let c): return "\(c) customer declined"
        case .cartNotValid: return "10304 cart not valid"
        case .belowMinimumAmount: return "10305 below minimum amount"
        case .customerDoesNotExist: return "10306 customer does not exist"
        case .cartNotFound: return "10424 cart not found"
        case .pendingCustomerConfirmation: return "10425 waiting for the customer"
        case .reservationAwaitingConfirmCart: return "10426 reservation made, ConfirmCart needed"
        case .invalidConfirmationType: return "10427 invalid confirmation type"
        case .smsCodeRequired: return "10428 SMS payment code needed"
        case .awaitingCallbackResponse: return "10429 waiting for the callback response"
        case .unknown(let c): return "\(c) (unknown result code)"
        }
    }
}

/// PaymentInfo.StatusId.
public enum PaymentStatus: Sendable, Hashable {
    case unconfirmed  // 1
    case confirmed  // 2
    case cancelled  // 5
    case other(Int)

    public init(id: Int) {
        switch id {
        case 1: self = .unconfirmed
        case 2: self = .confirmed
        case 5: self = .cancelled
        default: self = .other(id)
        }
    }

    public var id: Int {
        switch self {
        case .unconfirmed: return 1
        case .confirmed: return 2
        case .cancelled: return 5
        case .other(let v): return v
        }
    }
}
