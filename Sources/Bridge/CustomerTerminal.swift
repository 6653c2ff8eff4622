import Checkout
import Common

/// The customer-facing side of one payment, as the payment runner sees it: a display and a
/// keypad that is put one prompt at a time. `PadTerminal` implements it on a PIN pad over
/// protocol v1; a terminal whose prompts are a blocking call (a scripted customer, the command
/// line) implements ``AskingTerminal`` instead.
///
/// Every call is a message the payment's loop sends in order and does not wait on: a prompt's
/// entry comes back through its `reply`, into the loop's inbox, so no task stands waiting for a
/// customer.
public protocol CustomerTerminal: Sendable {
    /// The terminal's stable identity (the pad's serial number).
    var terminalID: String { get }

    /// The actor whose serial executor runs this terminal (a pad's `PadTerminal`), or nil. A
    /// payment on the terminal runs its loop on the same executor, so that the terminal and its
    /// payment are one serial owner and the payment's calls here (all `nonisolated(nonsending)`:
    /// they run where they are called) reach the terminal without a hop.
    var owner: (any Actor)? { get }

    /// A payment takes the terminal: from now on its screens are the ones a re-linked pad gets
    /// back, and "back to idle" from an earlier payment no longer applies (PROTOCOL.md §7.3).
    nonisolated(nonsending) func paymentStarted() async

    /// The payment that took the terminal is over (its last screen stays until `show(.idle)`).
    nonisolated(nonsending) func paymentEnded() async

    /// Shows a screen between prompts. Returns once it is on its way (not necessarily displayed).
    nonisolated(nonsending) func show(_ screen: CustomerScreen) async

    /// Puts a prompt to the customer and returns at once; the entry is handed to `reply`, once,
    /// unless the prompt is withdrawn first. `id` is the caller's name for the prompt.
    ///
    /// If the terminal goes away during the prompt and does not come back in time, the entry is
    /// `.terminalUnavailable`.
    nonisolated(nonsending) func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async

    /// Ends the prompt `id` on the terminal (CANCEL_PROMPT on a pad). Its `reply` is not called
    /// after this returns; digits that crossed the cancel on the line are discarded, never acted
    /// on (PROTOCOL.md §7.1). A prompt already answered or unknown is ignored.
    nonisolated(nonsending) func withdrawPrompt(_ id: Int) async
}

extension CustomerTerminal {
    /// A terminal with no screen of its own to restore (a scripted customer) needs no notice.
    public nonisolated(nonsending) func paymentStarted() async {}
    public nonisolated(nonsending) func paymentEnded() async {}
    /// A terminal with no actor of its own: its payment's loop runs on the cooperative pool.
    public var owner: (any Actor)? { nil }
}

extension CustomerTerminal {
    /// One prompt as one call: puts it and waits for its entry. Cancelling the calling task
    /// withdraws the prompt; the value returned then (`.terminalUnavailable`) is to be ignored.
    func entry(for prompt: CustomerPrompt, id: Int) async -> CustomerEntry {
        let (entries, delivery) = AsyncStream.makeStream(of: CustomerEntry.self, bufferingPolicy: .bufferingNewest(1))
        await self.prompt(prompt, id: id) { entry in
            delivery.yield(entry)
            delivery.finish()
        }
        var iterator = entries.makeAsyncIterator()
        // The stream's `next()` ends with nil when the task is cancelled.
        guard let entry = await iterator.next() else {
            await withdrawPrompt(id)
            return .terminalUnavailable
        }
        return entry
    }
}

/// A terminal whose prompts are one blocking call each: `ask` waits for the entry, and
/// cancelling the calling task ends the prompt (the value it returns then is ignored).
public protocol AskingTerminal: CustomerTerminal {
    /// Asks the customer for one entry and waits for it.
    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry
    /// The prompts under way, each waiting in `ask`.
    var promptTasks: PromptTasks { get }
}

extension AskingTerminal {
    public nonisolated(nonsending) func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        promptTasks.start(id, ask: { await self.ask(prompt) }, reply: reply)
    }

    public nonisolated(nonsending) func withdrawPrompt(_ id: Int) async {
        promptTasks.cancel(id)
    }
}

/// The prompts an ``AskingTerminal`` has under way, each a task waiting in its `ask`.
public final class PromptTasks: Sendable {
    /// Lock: a prompt is put and withdrawn by the payment's loop and ended by its own task when
    /// the entry is in; whichever comes first takes it out of the table, so a withdrawn prompt
    /// never replies.
    private let tasks = Locked<[Int: Task<Void, Never>]>([:])

    public init() {}

    func start(
        _ id: Int, ask: @escaping @Sendable () async -> CustomerEntry, reply: @escaping @Sendable (CustomerEntry) -> Void
    ) {
        tasks.withLock { tasks in
            // Unstructured: the prompt is answered after the call that put it has returned, and
            // withdrawing it cancels this task (how a blocking `ask` learns its prompt ended).
            tasks[id] = Task {
                let entry = await ask()
                self.tasks.withLock { tasks in
                    if tasks.removeValue(forKey: id) != nil { reply(entry) }
                }
            }
        }
    }

    func cancel(_ id: Int) {
        tasks.withLock { $0.removeValue(forKey: id) }?.cancel()
    }
}
