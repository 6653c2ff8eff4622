import Checkout

/// The customer-facing side of one payment, as the payment runner sees it: a display and a
/// keypad that can be asked for one entry at a time. `PadTerminal` implements it on a PIN pad
/// over protocol v1; tests implement it with a scripted customer.
public protocol CustomerTerminal: Sendable {
    /// The terminal's stable identity (the pad's serial number).
    var terminalID: String { get }

    /// A payment takes the terminal: from now on its screens are the ones a re-linked pad gets
    /// back, and "back to idle" from an earlier payment no longer applies (PROTOCOL.md §7.3).
    func paymentStarted() async

    /// The payment that took the terminal is over (its last screen stays until `show(.idle)`).
    func paymentEnded() async

    /// Shows a screen between prompts. Returns once it is on its way (not necessarily displayed).
    func show(_ screen: CustomerScreen) async

    /// Asks the customer for one entry and waits for it.
    ///
    /// Cancelling the calling task ends the prompt on the terminal (CANCEL_PROMPT on a pad);
    /// the value returned after a cancellation must be ignored — digits that crossed the cancel
    /// on the line are discarded, never acted on (PROTOCOL.md §7.1).
    /// If the terminal goes away during the prompt and does not come back in time, the result is
    /// `.terminalUnavailable`.
    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry
}

extension CustomerTerminal {
    /// A terminal with no screen of its own to restore (a scripted customer) needs no notice.
    public func paymentStarted() async {}
    public func paymentEnded() async {}
}
