import Common
import Foundation
import NetgiroModels

/// The Netgíró simulator's logic as a pure state machine: requests, customer decisions, callback
/// results and the passing of time go in (with the time as a value); replies and effects come
/// out. No sockets, no clocks, no sleeping — the HTTP shell (``NetgiroSimulator``) carries the
/// effects out.
public struct NetgiroSimulatorCore: Sendable {
    public struct Configuration: Sendable {
        /// Known applications: app key (ApplicationId) → SecretKey.
        public var apps: [String: NetgiroSecret]
        public var customers: NetgiroSimCustomers
        /// Carts not paid or cancelled by then are cancelled (10201).
        public var cartLifetime: Duration
        /// Wrong SMS payment codes allowed before the cart is cancelled.
        public var smsCodeTries: Int
        /// What InsertCart returns as `ProcessCartCheckIntervalMiliseconds`.
        public var checkInterval: Duration
        /// Smallest amount accepted (10305 below it).
        public var minimumAmount: Int
        /// Callback attempts before the sale is cancelled (Netgíró: retried once).
        public var callbackAttempts: Int

        public init(
            apps: [String: NetgiroSecret] = [NetgiroSecret.publicSandboxAppKey: .publicSandbox],
            customers: NetgiroSimCustomers = NetgiroSimCustomers(), cartLifetime: Duration = .seconds(300),
            smsCodeTries: Int = 3, checkInterval: Duration = .seconds(3), minimumAmount: Int = 1,
            callbackAttempts: Int = 2
        ) {
            self.apps = apps
            self.customers = customers
            self.cartLifetime = cartLifetime
            self.smsCodeTries = smsCodeTries
            self.checkInterval = checkInterval
            self.minimumAmount = minimumAmount
            self.callbackAttempts = callbackAttempts
        }
    }

    public enum CancelReason: Sendable, Hashable, CustomStringConvertible {
        case byProvider
        case declined(Int)
        case expired
        case smsCodeTriesExhausted
        case callbackFailed

        public var description: String {
            switch self {
            case .byProvider: return "cancelled by the provider"
            case .declined(let code): return "declined by the customer (\(code))"
            case .expired: return "expired"
            case .smsCodeTriesExhausted: return "too many wrong payment codes"
            case .callbackFailed: return "the callback was not answered"
            }
        }
    }

    public enum CartState: Sendable, Hashable, CustomStringConvertible {
        /// GSM: push sent; the customer decides at `decideAt` (nil: never).
        case awaitingCustomer(decideAt: NetgiroSimInstant?, accepts: Bool)
        /// SSN: SMS payment code sent; waiting for ConfirmCart with it.
        case awaitingSmsCode
        /// Manual: reservation made; waiting for ConfirmCart.
        case reserved
        /// ServerCallback: reservation made; callback attempt `attempt` under way.
        case awaitingCallback(attempt: Int)
        case paid
        case cancelled(CancelReason)

        public var name: String {
            switch self {
            case .awaitingCustomer: return "awaitingCustomer"
            case .awaitingSmsCode: return "awaitingSmsCode"
            case .reserved: return "reserved"
            case .awaitingCallback: return "awaitingCallback"
            case .paid: return "paid"
            case .cancelled: return "cancelled"
            }
        }

        public var description: String {
            if case .cancelled(let reason) = self { return "cancelled (\(reason))" }
            return name
        }

        var isOpen: Bool {
            switch self {
            case .paid, .cancelled: return false
            default: return true
            }
        }
    }

    public struct Cart: Sendable, Hashable {
        public var transactionId: String
        public var appKey: String
        public var reference: String
        public var customerId: String
        public var customerKind: String
        public var amount: Int
        public var confirmationType: ConfirmationType
        public var callbackUrl: String?
        public var callbackCancelUrl: String?
        public var created: NetgiroSimInstant
        public var invoiceNumber: Int
        public var state: CartState
        public var smsCode: String?
        public var smsTriesLeft: Int
        public var calls: [NetgiroCall: Int]
        public var callbackAttempts: Int
    }

    /// A callback to POST: the shell sends it and reports the result with
    /// ``callbackFinished(transactionId:attempt:delivered:now:)`` (not for cancel callbacks).
    public struct Callback: Sendable, Hashable {
        public var transactionId: String
        public var url: String
        public var nonce: String
        public var signature: String
        public var body: [UInt8]
        public var attempt: Int
        /// A notice to `CallbackCancelUrl`; its result changes nothing.
        public var isCancelNotice: Bool
    }

    public enum Effect: Sendable, Hashable {
        /// A line for the simulator's output (customer ids masked).
        case event(String)
        /// The sandbox "sent" an SMS payment code: shown in the simulator's own output (that is
        /// how a demo learns it), masked in its log.
        case smsCodeSent(transactionId: String, code: String)
        case sendCallback(Callback)
    }

    /// A reply to one HTTP request.
    public struct Reply: Sendable, Hashable {
        public var status: Int
        public var body: [UInt8]
        /// The call it answered, when the path named one.
        public var call: NetgiroCall?
        public var transactionId: String?
        /// Why the request was refused, when it broke the wire format (logged by the shell).
        public var violation: String?
        /// Whether the call changed a cart (used by the shell's fault injection).
        public var committed: Bool
    }

    public private(set) var configuration: Configuration
    public private(set) var carts: [String: Cart] = [:]
    private var cartOrder: [String] = []
    private var nonces: [String: NonceHistory] = [:]
    private var random: SeededRandom
    private var nextInvoiceNumber = 100_001
    private var callbackNonce: UInt64 = 1_000_000

    struct NonceHistory: Sendable {
        var highestNumeric: UInt64?
        var seen: Set<String> = []
    }

    public init(configuration: Configuration = Configuration(), seed: UInt64 = 1) {
        self.configuration = configuration
        self.random = SeededRandom(seed: seed)
    }

    // MARK: Reading

    public func smsCode(for transactionId: String) -> String? { carts[transactionId]?.smsCode }

    public var ledger: [NetgiroSimLedgerEntry] {
        cartOrder.compactMap { carts[$0] }.map(NetgiroSimLedgerEntry.init)
    }

    // MARK: Requests

    /// Validates one HTTP request against Netgíró's wire format and, if it passes, applies it.
    public mutating func receive(_ request: NetgiroSimWireRequest, now: NetgiroSimInstant) -> (Reply, [Effect]) {
        var effects = advance(to: now)
        switch NetgiroSimWire.validate(request, apps: configuration.apps) {
        case .failure(let rejection):
            return (rejection.reply, effects)
        case .success(let validated):
            // Nonces: never reused, and increasing when numeric.
            var history = nonces[validated.appKey] ?? NonceHistory()
            let numeric = UInt64(validated.nonce)
            if history.seen.contains(validated.nonce)
                || (numeric != nil && history.highestNumeric.map { numeric! <= $0 } == true)
            {
                let rejection = NetgiroSimWire.Rejection(
                    status: 401, resultCode: 400,
                    message: "Authorization has been denied for this request: nonce already used or not increasing",
                    call: validated.call, violation: "reused or non-increasing nonce")
                return (rejection.reply, effects)
            }
            history.seen.insert(validated.nonce)
            if let numeric { history.highestNumeric = max(history.highestNumeric ?? 0, numeric) }
            nonces[validated.appKey] = history

            let (reply, more) = apply(validated, now: now)
            effects += more
            return (reply, effects)
        }
    }

    mutating func apply(_ request: NetgiroSimWire.Validated, now: NetgiroSimInstant) -> (Reply, [Effect]) {
        // Another application's cart does not exist for this one.
        switch request.body {
        case .checkCart(let id), .confirmCart(let id, _), .cancelCart(let id):
            if let cart = carts[id], cart.appKey.lowercased() != request.appKey.lowercased() {
                return (notFound(request.call, id), [])
            }
        case .insertCart: break
        }
        switch request.body {
        case .insertCart(let insert):
            return insertCart(insert, appKey: request.appKey, now: now)
        case .checkCart(let id):
            guard var cart = carts[id] else { return (notFound(.checkCart, id), []) }
            cart.calls[.checkCart, default: 0] += 1
            carts[id] = cart
            return (cartReply(.checkCart, cart, state: cart.state, committed: false), [])
        case .confirmCart(let id, let identifier):
            return confirmCart(id, identifier: identifier, now: now)
        case .cancelCart(let id):
            return cancelCart(id, now: now)
        }
    }

    mutating func insertCart(_ insert: NetgiroSimWire.InsertCart, appKey: String, now: NetgiroSimInstant) -> (Reply, [Effect]) {
        let masked = PersonalData.mask(insert.customerId)
        guard insert.amount >= configuration.minimumAmount else {
            return (envelopeReply(.insertCart, success: false, code: 10305,
                message: "Amount is below the minimum of \(configuration.minimumAmount) ISK"), [])
        }
        let behaviour = configuration.customers.behaviour(for: insert.customerId)
        switch behaviour {
        case .unknownCustomer:
            return (envelopeReply(.insertCart, success: false, code: 10306, message: "Customer does not exist"),
                [.event("InsertCart \(insert.reference): customer \(masked) does not exist (10306)")])
        case .noCredit:
            return (envelopeReply(.insertCart, success: false, code: 10307,
                message: "The customer cannot pay this amount with Netgíró"),
                [.event("InsertCart \(insert.reference): customer \(masked) has no credit (10307)")])
        default: break
        }
        let id = random.guid()
        var cart = Cart(
            transactionId: id, appKey: appKey, reference: insert.reference, customerId: insert.customerId,
            customerKind: NetgiroSimCustomers.kind(of: behaviour), amount: insert.amount,
            confirmationType: insert.confirmationType, callbackUrl: insert.callbackUrl,
            callbackCancelUrl: insert.callbackCancelUrl, created: now, invoiceNumber: nextInvoiceNumber,
            state: .awaitingCustomer(decideAt: nil, accepts: false), smsCode: nil,
            smsTriesLeft: configuration.smsCodeTries, calls: [.insertCart: 1], callbackAttempts: 0)
        nextInvoiceNumber += 1
        var effects: [Effect] = [
            .event("InsertCart \(insert.reference): cart \(id), \(insert.amount) ISK, \(cart.customerKind) \(masked), \(insert.confirmationType)")
        ]
        let code: Int
        let message: String
        switch behaviour {
        case .acceptsAfter(let delay), .declinesAfter(let delay):
            let accepts: Bool
            if case .acceptsAfter = behaviour { accepts = true } else { accepts = false }
            cart.state = .awaitingCustomer(decideAt: now + delay, accepts: accepts)
            code = 200
            message = "Cart inserted; waiting for the customer to confirm in the app"
        case .neverAnswers:
            cart.state = .awaitingCustomer(decideAt: nil, accepts: false)
            code = 200
            message = "Cart inserted; waiting for the customer to confirm in the app"
        case .smsCode:
            let sms = random.smsCode()
            cart.smsCode = sms
            cart.state = .awaitingSmsCode
            code = 10428
            message = "A payment code was sent to the customer by SMS; enter it to confirm"
            effects.append(.smsCodeSent(transactionId: id, code: sms))
        case .appCode:
            carts[id] = cart
            cartOrder.append(id)
            effects += customerConfirmed(id, now: now)
            cart = carts[id]!
            switch cart.state {
            case .paid: (code, message) = (10200, "Payment completed")
            case .reserved: (code, message) = (10426, "Reservation made; call ConfirmCart to complete the payment")
            default: (code, message) = (10429, "Reservation made; waiting for the callback response")
            }
        case .unknownCustomer, .noCredit:
            fatalError("handled above")
        }
        carts[id] = cart
        if !cartOrder.contains(id) { cartOrder.append(id) }
        let body = NetgiroSimBody.insertCart(
            success: true, message: message, code: code, transactionId: id,
            intervalMilliseconds: Int(configuration.checkInterval.components.seconds * 1000
                + configuration.checkInterval.components.attoseconds / 1_000_000_000_000_000))
        return (Reply(status: 200, body: body, call: .insertCart, transactionId: id, violation: nil, committed: true), effects)
    }

    mutating func confirmCart(_ id: String, identifier: String?, now: NetgiroSimInstant) -> (Reply, [Effect]) {
        guard var cart = carts[id] else { return (notFound(.confirmCart, id), []) }
        cart.calls[.confirmCart, default: 0] += 1
        carts[id] = cart
        switch cart.state {
        case .awaitingSmsCode:
            guard let identifier, !identifier.isEmpty else {
                return (cartReply(.confirmCart, cart, success: false, code: 10428,
                    message: "The payment code from the customer's SMS is required (Identifier)"), [])
            }
            guard identifier == cart.smsCode else {
                cart.smsTriesLeft -= 1
                if cart.smsTriesLeft <= 0 {
                    cart.state = .cancelled(.smsCodeTriesExhausted)
                    carts[id] = cart
                    return (cartReply(.confirmCart, cart, success: false, code: 10201,
                        message: "Too many wrong payment codes; the payment was cancelled", committed: true),
                        [.event("cart \(id): wrong payment code, no tries left: cancelled")] + cancelNotice(cart))
                }
                carts[id] = cart
                return (cartReply(.confirmCart, cart, success: false, code: 10428,
                    message: "Wrong payment code; \(cart.smsTriesLeft) tries left", committed: true),
                    [.event("cart \(id): wrong payment code, \(cart.smsTriesLeft) tries left")])
            }
            let effects = customerConfirmed(id, now: now)
            return (cartReply(.confirmCart, carts[id]!, state: carts[id]!.state, committed: true), effects)
        case .reserved:
            cart.state = .paid
            carts[id] = cart
            return (cartReply(.confirmCart, cart, state: .paid, committed: true), [.event("cart \(id): ConfirmCart: paid")])
        case .awaitingCustomer:
            return (cartReply(.confirmCart, cart, success: false, code: 10425,
                message: "The customer has not confirmed the payment yet"), [])
        case .awaitingCallback:
            return (cartReply(.confirmCart, cart, state: cart.state), [])
        case .paid:
            return (cartReply(.confirmCart, cart, success: false, code: 10203, message: "The cart is already confirmed"), [])
        case .cancelled:
            return (cartReply(.confirmCart, cart, success: false, code: 10202, message: "The cart is already cancelled"), [])
        }
    }

    mutating func cancelCart(_ id: String, now: NetgiroSimInstant) -> (Reply, [Effect]) {
        guard var cart = carts[id] else { return (notFound(.cancelCart, id), []) }
        cart.calls[.cancelCart, default: 0] += 1
        carts[id] = cart
        switch cart.state {
        case .paid:
            // The customer won the race: the sale is paid.
            return (cartReply(.cancelCart, cart, state: .paid), [.event("cart \(id): CancelCart after payment: answered 10200")])
        case .cancelled:
            return (cartReply(.cancelCart, cart, success: false, code: 10202, message: "The cart is already cancelled"), [])
        default:
            cart.state = .cancelled(.byProvider)
            carts[id] = cart
            return (cartReply(.cancelCart, cart, success: true, code: 10201, message: "Payment cancelled", committed: true),
                [.event("cart \(id): cancelled by the provider")] + cancelNotice(cart))
        }
    }

    // MARK: Customers, time, callbacks

    /// The customer confirms (AppCode at once, GSM in the app, SSN with the right code).
    mutating func customerConfirmed(_ id: String, now: NetgiroSimInstant) -> [Effect] {
        guard var cart = carts[id] else { return [] }
        var effects: [Effect] = []
        switch cart.confirmationType {
        case .automatic:
            cart.state = .paid
            effects.append(.event("cart \(id): customer confirmed: paid"))
        case .manual:
            cart.state = .reserved
            effects.append(.event("cart \(id): customer confirmed: reservation made, waiting for ConfirmCart"))
        case .serverCallback:
            cart.state = .awaitingCallback(attempt: 1)
            cart.callbackAttempts = 1
            effects.append(.event("cart \(id): customer confirmed: reservation made, sending callback"))
            carts[id] = cart
            effects.append(.sendCallback(makeCallback(cart, attempt: 1, cancel: false)))
            return effects
        }
        carts[id] = cart
        return effects
    }

    /// A control action: the GSM customer accepts or declines now.
    public mutating func customerDecides(
        transactionId id: String, accept: Bool, now: NetgiroSimInstant
    ) -> Result<[Effect], NetgiroSimControlError> {
        var effects = advance(to: now)
        guard var cart = carts[id] else { return .failure(.noSuchCart(id)) }
        guard case .awaitingCustomer = cart.state else { return .failure(.notAwaitingCustomer(id, cart.state.name)) }
        if accept {
            effects += customerConfirmed(id, now: now)
        } else {
            cart.state = .cancelled(.declined(10302))
            carts[id] = cart
            effects.append(.event("cart \(id): customer declined"))
            effects += cancelNotice(cart)
        }
        return .success(effects)
    }

    /// Applies everything due by `now`: customer decisions and expiry.
    public mutating func advance(to now: NetgiroSimInstant) -> [Effect] {
        var effects: [Effect] = []
        for id in cartOrder {
            guard var cart = carts[id] else { continue }
            if case .awaitingCustomer(let decideAt?, let accepts) = cart.state, decideAt <= now,
                decideAt < cart.created + configuration.cartLifetime
            {
                if accepts {
                    effects += customerConfirmed(id, now: now)
                } else {
                    cart.state = .cancelled(.declined(10302))
                    carts[id] = cart
                    effects.append(.event("cart \(id): customer declined"))
                    effects += cancelNotice(cart)
                }
                cart = carts[id]!
            }
            switch cart.state {
            case .awaitingCustomer, .awaitingSmsCode, .reserved:
                if now >= cart.created + configuration.cartLifetime {
                    cart.state = .cancelled(.expired)
                    carts[id] = cart
                    effects.append(.event("cart \(id): expired"))
                    effects += cancelNotice(cart)
                }
            default: break
            }
        }
        return effects
    }

    /// The shell reports how a callback went (HTTP 200 = delivered).
    public mutating func callbackFinished(
        transactionId id: String, attempt: Int, delivered: Bool, now: NetgiroSimInstant
    ) -> [Effect] {
        guard var cart = carts[id], case .awaitingCallback(let current) = cart.state, current == attempt else { return [] }
        if delivered {
            cart.state = .paid
            carts[id] = cart
            return [.event("cart \(id): callback answered 200: paid")]
        }
        if attempt < configuration.callbackAttempts {
            cart.state = .awaitingCallback(attempt: attempt + 1)
            cart.callbackAttempts = attempt + 1
            carts[id] = cart
            return [.event("cart \(id): callback attempt \(attempt) failed; retrying"),
                .sendCallback(makeCallback(cart, attempt: attempt + 1, cancel: false))]
        }
        cart.state = .cancelled(.callbackFailed)
        carts[id] = cart
        return [.event("cart \(id): callback attempt \(attempt) failed; sale cancelled")] + cancelNotice(cart)
    }

    mutating func cancelNotice(_ cart: Cart) -> [Effect] {
        guard cart.confirmationType == .serverCallback, cart.callbackCancelUrl != nil else { return [] }
        return [.sendCallback(makeCallback(cart, attempt: 0, cancel: true))]
    }

    mutating func makeCallback(_ cart: Cart, attempt: Int, cancel: Bool) -> Callback {
        let url = (cancel ? cart.callbackCancelUrl : cart.callbackUrl) ?? ""
        let body: [UInt8]
        if cancel {
            body = NetgiroSimBody.cart(success: false, message: "Payment cancelled", code: 10201, paymentSuccessful: false,
                info: paymentInfo(cart, status: 5))
        } else {
            body = NetgiroSimBody.cart(success: true, message: "Payment completed", code: 10200, paymentSuccessful: true,
                info: paymentInfo(cart, status: 2))
        }
        callbackNonce += 1
        let nonce = String(callbackNonce)
        let secret = configuration.apps[cart.appKey] ?? .publicSandbox
        return Callback(
            transactionId: cart.transactionId, url: url, nonce: nonce,
            signature: NetgiroCallback.sign(secret: secret, nonce: nonce, url: url, body: body), body: body,
            attempt: attempt, isCancelNotice: cancel)
    }

    // MARK: Replies

    func notFound(_ call: NetgiroCall, _ id: String) -> Reply {
        envelopeReply(call, success: false, code: 10424, message: "Cart not found", transactionId: id)
    }

    func envelopeReply(_ call: NetgiroCall, success: Bool, code: Int, message: String, transactionId: String? = nil) -> Reply {
        let body: [UInt8]
        if call == .insertCart {
            body = NetgiroSimBody.insertCart(success: success, message: message, code: code, transactionId: nil,
                intervalMilliseconds: nil)
        } else {
            body = NetgiroSimBody.cart(success: success, message: message, code: code, paymentSuccessful: false, info: nil)
        }
        return Reply(status: 200, body: body, call: call, transactionId: transactionId, violation: nil, committed: false)
    }

    /// The reply that describes a cart's state (CheckCart's view).
    func cartReply(_ call: NetgiroCall, _ cart: Cart, state: CartState, committed: Bool = false) -> Reply {
        switch state {
        case .awaitingCustomer:
            return cartReply(call, cart, success: true, code: 10425, message: "Waiting for the customer to confirm", committed: committed)
        case .awaitingSmsCode:
            return cartReply(call, cart, success: true, code: 10428, message: "Waiting for the SMS payment code", committed: committed)
        case .reserved:
            return cartReply(call, cart, success: true, code: 10426,
                message: "Reservation made; call ConfirmCart to complete the payment", committed: committed)
        case .awaitingCallback:
            return cartReply(call, cart, success: true, code: 10429,
                message: "Reservation made; waiting for the callback response", committed: committed)
        case .paid:
            return cartReply(call, cart, success: true, code: 10200, message: "Payment completed", committed: committed)
        case .cancelled(.declined(let code)):
            return cartReply(call, cart, success: false, code: code, message: "The customer declined the payment", committed: committed)
        case .cancelled(let reason):
            return cartReply(call, cart, success: false, code: 10201, message: "Payment cancelled: \(reason)", committed: committed)
        }
    }

    func cartReply(
        _ call: NetgiroCall, _ cart: Cart, success: Bool, code: Int, message: String, committed: Bool = false
    ) -> Reply {
        let paid = cart.state == .paid
        let status: Int?
        switch cart.state {
        case .paid: status = 2
        case .cancelled: status = 5
        case .reserved, .awaitingCallback: status = 1
        default: status = nil
        }
        let body = NetgiroSimBody.cart(
            success: success, message: message, code: code, paymentSuccessful: paid,
            info: status.map { paymentInfo(cart, status: $0) })
        return Reply(status: 200, body: body, call: call, transactionId: cart.transactionId, violation: nil, committed: committed)
    }

    func paymentInfo(_ cart: Cart, status: Int) -> NetgiroSimBody.PaymentInfo {
        NetgiroSimBody.PaymentInfo(
            TransactionId: cart.transactionId, InvoiceNumber: cart.invoiceNumber, ReferenceNumber: cart.reference,
            StatusId: status, Created: NetgiroSimBody.dotNetDate(cart.created), TotalAmount: Double(cart.amount))
    }
}

/// Errors of the control interface.
public enum NetgiroSimControlError: Error, Sendable, Hashable, CustomStringConvertible {
    case noSuchCart(String)
    case notAwaitingCustomer(String, String)

    public var description: String {
        switch self {
        case .noSuchCart(let id): return "no cart \(id)"
        case .notAwaitingCustomer(let id, let state): return "cart \(id) is \(state), not waiting for the customer"
        }
    }
}

/// One row of the simulator's ledger. The customer id is masked.
public struct NetgiroSimLedgerEntry: Sendable, Hashable, Codable {
    public var transactionId: String
    public var reference: String
    public var customer: String
    public var customerKind: String
    public var amount: Int
    public var confirmationType: Int
    public var state: String
    public var detail: String
    /// Calls made for this cart, by call name (`InsertCart`, `CheckCart`, …).
    public var calls: [String: Int]
    public var callbackAttempts: Int
    public var smsTriesLeft: Int

    init(_ cart: NetgiroSimulatorCore.Cart) {
        transactionId = cart.transactionId
        reference = cart.reference
        customer = PersonalData.mask(cart.customerId)
        customerKind = cart.customerKind
        amount = cart.amount
        confirmationType = cart.confirmationType.rawValue
        state = cart.state.name
        detail = cart.state.description
        calls = Dictionary(uniqueKeysWithValues: cart.calls.map { ($0.key.rawValue, $0.value) })
        callbackAttempts = cart.callbackAttempts
        smsTriesLeft = cart.smsTriesLeft
    }

    public func count(_ call: NetgiroCall) -> Int { calls[call.rawValue] ?? 0 }
}

/// The JSON bodies the simulator answers with, in Netgíró's shape (PascalCase, explicit nulls).
enum NetgiroSimBody {
    struct PaymentInfo: Encodable, Hashable {
        var TransactionId: String
        var InvoiceNumber: Int
        var ReferenceNumber: String
        var StatusId: Int
        var Created: String
        var TotalAmount: Double
    }

    struct InsertCartBody: Encodable {
        var success: Bool
        var message: String?
        var code: Int
        var transactionId: String?
        var interval: Int?
        enum K: String, CodingKey {
            case TransactionId, ProcessCartCheckIntervalMiliseconds, RemoteConfirmationAvailable, Success, Message, ResultCode
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(transactionId, forKey: .TransactionId)
            try c.encode(interval, forKey: .ProcessCartCheckIntervalMiliseconds)
            try c.encode(false, forKey: .RemoteConfirmationAvailable)
            try c.encode(success, forKey: .Success)
            try c.encode(message, forKey: .Message)
            try c.encode(code, forKey: .ResultCode)
        }
    }

    struct CartBody: Encodable {
        var success: Bool
        var message: String?
        var code: Int
        var paymentSuccessful: Bool
        var info: PaymentInfo?
        enum K: String, CodingKey { case PaymentSuccessful, PaymentInfo, Success, Message, ResultCode }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(paymentSuccessful, forKey: .PaymentSuccessful)
            try c.encode(info, forKey: .PaymentInfo)
            try c.encode(success, forKey: .Success)
            try c.encode(message, forKey: .Message)
            try c.encode(code, forKey: .ResultCode)
        }
    }

    struct Envelope: Encodable {
        var Success: Bool
        var Message: String?
        var ResultCode: Int
        enum K: String, CodingKey { case Success, Message, ResultCode }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(Success, forKey: .Success)
            try c.encode(Message, forKey: .Message)
            try c.encode(ResultCode, forKey: .ResultCode)
        }
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data(#"{"Success":false,"Message":null,"ResultCode":500}"#.utf8))
    }

    static func insertCart(success: Bool, message: String?, code: Int, transactionId: String?, intervalMilliseconds: Int?) -> [UInt8] {
        encode(InsertCartBody(success: success, message: message, code: code, transactionId: transactionId, interval: intervalMilliseconds))
    }

    static func cart(success: Bool, message: String?, code: Int, paymentSuccessful: Bool, info: PaymentInfo?) -> [UInt8] {
        encode(CartBody(success: success, message: message, code: code, paymentSuccessful: paymentSuccessful, info: info))
    }

    static func envelope(success: Bool = false, message: String, code: Int) -> [UInt8] {
        encode(Envelope(Success: success, Message: message, ResultCode: code))
    }

    /// A .NET-style local date-time (no zone, 7-digit fraction) for a simulator instant, counted
    /// from 2026-01-01T00:00:00.
    static func dotNetDate(_ instant: NetgiroSimInstant) -> String {
        let base = Date(timeIntervalSince1970: 1_767_225_600)
        let (s, atto) = instant.sinceStart.components
        let date = base.addingTimeInterval(Double(s))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let ticks = atto / 100_000_000_000  // 100 ns
        func pad(_ v: Int, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(c.year!, 4))-\(pad(c.month!, 2))-\(pad(c.day!, 2))T\(pad(c.hour!, 2)):\(pad(c.minute!, 2)):\(pad(c.second!, 2)).\(pad(Int(ticks), 7))"
    }
}
