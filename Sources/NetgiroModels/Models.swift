/// The four v1 Checkout calls. `path` is below the base URL, spelt exactly as Netgíró's docs
/// (path case is part of the signature).
public enum NetgiroCall: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case insertCart = "InsertCart"
    case checkCart = "CheckCart"
    case confirmCart = "ConfirmCart"
    case cancelCart = "CancelCart"

    public var path: String { "Checkout/\(rawValue)" }
    public var description: String { rawValue }

    /// Whether the client may repeat this call on its own after a transport failure. CheckCart
    /// only reads; CancelCart repeated answers "already cancelled" (10202) or "paid" (10200).
    /// InsertCart has no idempotency key (a lost answer may have created a cart), and a repeated
    /// ConfirmCart is decided by the checkout core after a CheckCart, not here.
    public var isSafeToRetry: Bool { self == .checkCart || self == .cancelCart }
}

/// How the cart becomes a payment once the customer has confirmed it. A JSON number on the wire.
public enum ConfirmationType: Int, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// The payment is created as soon as the customer confirms.
    case automatic = 0
    /// Netgíró POSTs to `CallbackUrl`; the payment is created when the provider answers 200.
    case serverCallback = 1
    /// The customer's confirmation makes a reservation (10426); the provider calls ConfirmCart.
    case manual = 2

    public var description: String {
        switch self {
        case .automatic: return "Automatic"
        case .serverCallback: return "ServerCallback"
        case .manual: return "Manual"
        }
    }
}

/// One cart line (`CartItemRequests[]`). Amounts are whole krónur; quantity is in thousandths
/// (2 items = 2000, 0.5 kg = 500).
public struct CartItem: Sendable, Hashable, Encodable {
    public var productNo: String
    public var name: String
    public var description: String?
    /// Price of one unit, whole ISK.
    public var unitPrice: Int
    /// Line total, whole ISK.
    public var amount: Int
    /// Quantity in thousandths.
    public var quantity: Int

    public init(productNo: String, name: String, description: String? = nil, unitPrice: Int, amount: Int, quantity: Int) {
        self.productNo = productNo
        self.name = name
        self.description = description
        self.unitPrice = unitPrice
        self.amount = amount
        self.quantity = quantity
    }

    /// A line of `count` whole units; the line total is `unitPrice * count`.
    public init(productNo: String, name: String, description: String? = nil, unitPrice: Int, count: Int) {
        self.init(
            productNo: productNo, name: name, description: description, unitPrice: unitPrice,
            amount: unitPrice * count, quantity: count * 1000)
    }

    enum CodingKeys: String, CodingKey {
        case productNo = "ProductNo", name = "Name", description = "Description", unitPrice = "UnitPrice"
        case amount = "Amount", quantity = "Quantity"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(productNo, forKey: .productNo)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(unitPrice, forKey: .unitPrice)
        try c.encode(amount, forKey: .amount)
        try c.encode(quantity, forKey: .quantity)
    }
}

/// InsertCart's body.
public struct InsertCartRequest: Sendable, Hashable, Encodable {
    /// Whole ISK (krónur have no minor unit).
    public var amount: Int
    /// The provider's own reference for the sale (comes back as PaymentInfo.ReferenceNumber).
    public var reference: String
    /// GSM (7 digits), SSN/kennitala (10 digits, digits only) or AppCode. Personal data: never
    /// logged in clear; `description` masks it.
    public var customerId: String
    public var confirmationType: ConfirmationType
    /// Required with ``ConfirmationType/serverCallback``.
    public var callbackUrl: String?
    public var callbackCancelUrl: String?
    /// Sent as `Description`.
    public var cartDescription: String?
    public var items: [CartItem]

    public init(
        amount: Int, reference: String, customerId: String, confirmationType: ConfirmationType,
        callbackUrl: String? = nil, callbackCancelUrl: String? = nil, cartDescription: String? = nil,
        items: [CartItem] = []
    ) {
        self.amount = amount
        self.reference = reference
        self.customerId = customerId
        self.confirmationType = confirmationType
        self.callbackUrl = callbackUrl
        self.callbackCancelUrl = callbackCancelUrl
        self.cartDescription = cartDescription
        self.items = items
    }

    enum CodingKeys: String, CodingKey {
        case amount = "Amount", reference = "Reference", customerId = "CustomerId"
        case confirmationType = "ConfirmationType", callbackUrl = "CallbackUrl"
        case callbackCancelUrl = "CallbackCancelUrl", cartDescription = "Description", items = "CartItemRequests"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(amount, forKey: .amount)
        try c.encode(reference, forKey: .reference)
        try c.encode(customerId, forKey: .customerId)
        try c.encode(confirmationType.rawValue, forKey: .confirmationType)
        try c.encodeIfPresent(callbackUrl, forKey: .callbackUrl)
        try c.encodeIfPresent(callbackCancelUrl, forKey: .callbackCancelUrl)
        try c.encodeIfPresent(cartDescription, forKey: .cartDescription)
        if !items.isEmpty { try c.encode(items, forKey: .items) }
    }
}

extension InsertCartRequest: CustomStringConvertible {
    /// Safe to log: the customer id is masked.
    public var description: String {
        "InsertCart(Amount: \(amount), Reference: \(reference), CustomerId: \(PersonalData.mask(customerId)), "
            + "ConfirmationType: \(confirmationType), lines: \(items.count))"
    }
}

/// CheckCart's and CancelCart's body.
struct TransactionRequest: Encodable {
    var transactionId: String
    enum CodingKeys: String, CodingKey { case transactionId = "TransactionId" }
}

/// ConfirmCart's body. `Identifier` is the SMS payment code in the SSN flow (personal data).
struct ConfirmCartRequest: Encodable {
    var transactionId: String
    var identifier: String?
    enum CodingKeys: String, CodingKey { case transactionId = "TransactionId", identifier = "Identifier" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(transactionId, forKey: .transactionId)
        try c.encodeIfPresent(identifier, forKey: .identifier)
    }
}
