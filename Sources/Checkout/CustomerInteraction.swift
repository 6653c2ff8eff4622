/// What the checkout asks of the customer-facing terminal, in the checkout's own words.
///
/// The checkout core knows nothing of the PIN-pad protocol: it says "ask for the customer's
/// id", "show that we wait for the app", and the terminal session (in `Bridge`) turns that into
/// screens and prompts of the pad's prompt table. A runner feeds what the customer did back into
/// the checkout as an event.

/// Which entry the checkout needs from the customer.
public enum CustomerPromptKind: String, Sendable, Hashable, Codable {
    /// Netgíró app code, phone number (GSM) or kennitala (SSN).
    case customerID
    /// The payment code Netgíró sent by SMS (kennitala flow, result code 10428).
    case smsCode
}

/// A hint shown with a prompt, from the pad's own texts.
public enum CustomerPromptHint: String, Sendable, Hashable, Codable {
    case none
    /// "Wrong code, try again" (after Netgíró refused an SMS code).
    case wrongCode
    /// "Not a valid number" (an entry that can be no customer identifier).
    case invalidEntry
}

public struct CustomerPrompt: Sendable, Hashable, Codable {
    public var kind: CustomerPromptKind
    /// Amount in whole ISK, shown with the prompt.
    public var amount: Int
    public var hint: CustomerPromptHint

    public init(kind: CustomerPromptKind, amount: Int, hint: CustomerPromptHint = .none) {
        self.kind = kind
        self.amount = amount
        self.hint = hint
    }
}

/// How a prompt ended, as far as the checkout cares.
public enum CustomerEntry: Sendable, Hashable {
    /// The customer keyed digits and pressed OK (ASCII digits; personal data — never log in clear).
    case entered(String)
    /// The customer pressed Cancel.
    case cancelledByCustomer
    /// Nobody pressed a key in time.
    case timedOut
    /// The terminal could not complete the prompt (pad unplugged, link lost and not back in time).
    case terminalUnavailable
    /// The terminal cannot ask this at all: the pad did not announce the prompt in its table
    /// (PROTOCOL.md §5.2). Asking again on the same terminal gives the same answer.
    case promptUnsupported
}

/// What the customer display shows between prompts.
public enum CustomerScreen: Sendable, Hashable {
    /// Nothing under way.
    case idle
    /// Netgíró is being asked (InsertCart, ConfirmCart in flight).
    case working(amount: Int)
    /// The customer must accept the payment in the Netgíró app.
    case confirmInApp(amount: Int)
    case paid(amount: Int)
    /// Declined by the customer or by Netgíró; the message is Netgíró's, if any, for the person.
    case declined(message: String?)
    case cancelled
    /// The bridge cannot tell whether the payment went through; staff must check.
    case outcomeUnknown
    case outOfService
}
