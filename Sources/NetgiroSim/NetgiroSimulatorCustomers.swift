import NetgiroModels

/// How a simulated customer behaves, keyed by the `CustomerId` a till sends.
public enum NetgiroSimCustomerBehaviour: Sendable, Hashable {
    /// GSM: the app push is accepted after the delay.
    case acceptsAfter(Duration)
    /// GSM: the app push is declined after the delay.
    case declinesAfter(Duration)
    /// GSM: the customer never answers (the cart expires unless cancelled).
    case neverAnswers
    /// SSN with credit: an SMS payment code is sent; the POS enters it with ConfirmCart.
    case smsCode
    /// SSN without credit: declined at InsertCart (10307).
    case noCredit
    /// AppCode: confirmed at once.
    case appCode
    /// Not a Netgíró customer (10306).
    case unknownCustomer
}

/// The sandbox's test customers.
///
/// | CustomerId | kind | behaviour |
/// |---|---|---|
/// | `8223281` | GSM | accepts after `acceptDelay` (default 3 s) |
/// | `8223282` | GSM | declines after `acceptDelay` (10302) |
/// | `8223283` | GSM | never answers |
/// | `1111111119` | SSN | gets a 4-digit SMS payment code |
/// | `2222222229` | SSN | no credit: declined (10307) |
/// | `500004` + 4 characters | AppCode | confirmed at once |
/// | anything else | — | customer does not exist (10306) |
public struct NetgiroSimCustomers: Sendable, Hashable {
    public var acceptDelay: Duration
    /// Extra or overriding entries.
    public var overrides: [String: NetgiroSimCustomerBehaviour]

    public static let acceptingGSM = "8223281"
    public static let decliningGSM = "8223282"
    public static let silentGSM = "8223283"
    public static let smsSSN = "1111111119"
    public static let noCreditSSN = "2222222229"
    public static let appCodePrefix = "500004"

    public init(acceptDelay: Duration = .seconds(3), overrides: [String: NetgiroSimCustomerBehaviour] = [:]) {
        self.acceptDelay = acceptDelay
        self.overrides = overrides
    }

    public func behaviour(for customerId: String) -> NetgiroSimCustomerBehaviour {
        if let b = overrides[customerId] { return b }
        switch customerId {
        case Self.acceptingGSM: return .acceptsAfter(acceptDelay)
        case Self.decliningGSM: return .declinesAfter(acceptDelay)
        case Self.silentGSM: return .neverAnswers
        case Self.smsSSN: return .smsCode
        case Self.noCreditSSN: return .noCredit
        default:
            if customerId.count == 10, customerId.hasPrefix(Self.appCodePrefix),
                customerId.allSatisfy({ $0.isLetter || $0.isNumber })
            {
                return .appCode
            }
            return .unknownCustomer
        }
    }

    /// "GSM", "SSN", "AppCode" or "unknown", for the ledger.
    public static func kind(of behaviour: NetgiroSimCustomerBehaviour) -> String {
        switch behaviour {
        case .acceptsAfter, .declinesAfter, .neverAnswers: return "GSM"
        case .smsCode, .noCredit: return "SSN"
        case .appCode: return "AppCode"
        case .unknownCustomer: return "unknown"
        }
    }
}
