import Checkout
import Common
import Foundation
import Journal
import NetgiroAPI

/// The Netgíró calls a payment needs. ``NetgiroClient`` is the real one; tests may stand in.
public protocol PaymentGateway: Sendable {
    func insertCart(_ request: InsertCartRequest) async throws(NetgiroClientError) -> InsertCartResponse
    func checkCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse
    func confirmCart(transactionId: String, identifier: String?) async throws(NetgiroClientError) -> CartResponse
    func cancelCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse
}

extension NetgiroClient: PaymentGateway {}

/// Where the payment runner reads the time and waits. Injected so tests can run faster than
/// the wall clock.
public protocol PaymentClock: Sendable {
    /// The wall-clock time (recorded in the journal; deadlines survive restarts).
    func now() -> Date
    /// Waits `duration`; throws when the waiting task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The real clock: `Date()` and `Task.sleep`.
public struct SystemPaymentClock: PaymentClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// Why a payment could not be started.
public enum PaymentStartError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidRequest(PaymentRequestError)
    /// Another payment for this reference is in flight.
    case referenceInFlight(reference: String, paymentID: String)
    /// The journal could not record the payment, so it was not started.
    case journal(JournalError)
    /// The caller's admissibility check refused the payment given what the journal holds under
    /// its key and its reference (read in the transaction that would have written it).
    case inadmissible(keyed: PaymentRecord?, sameReference: [PaymentRecord])

    public var description: String {
        switch self {
        case .invalidRequest(let e): return "the payment request cannot be run: \(e)"
        case .referenceInFlight(let reference, let id):
            return "a payment for reference \(reference) is already in flight (payment \(id)) — wait for its outcome or cancel it"
        case .journal(let e): return "the payment was not started: \(e)"
        case .inadmissible(let keyed, _):
            return keyed.map { "the idempotency key already names payment \($0.id)" } ?? "the reference is held by another payment"
        }
    }
}

/// A terminal for payments whose pad is not known (recovered after a restart with its pad gone):
/// shows nothing, and every prompt ends as `.terminalUnavailable`.
struct AbsentTerminal: CustomerTerminal {
    let terminalID: String
    func show(_ screen: CustomerScreen) async {}
    func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        reply(.terminalUnavailable)
    }
    func withdrawPrompt(_ id: Int) async {}
}

/// The terminal of a payment recovered after a restart, whose pad may not be back yet: each
/// call waits (up to `grace` from the first call) for the pad to be known again and then goes to
/// it; a pad that does not come back counts as unavailable. A screen shown before then is
/// dropped (the next one replaces it anyway). Its prompts wait for the pad, so each waits in a
/// task of its own (a recovered payment puts one or two).
struct AwaitedTerminal: CustomerTerminal {
    let terminalID: String
    let grace: Duration
    let lookup: @Sendable () async -> (any CustomerTerminal)?
    /// A stream that yields when terminals come or go (``PaymentTerminals/watchChanges()``), so a
    /// prompt waiting for its pad looks again at once; nil: it looks every 50 ms.
    let changes: @Sendable () async -> AsyncStream<Void>?
    /// When the payment first needed its pad (the grace runs from then). Lock: a struct's
    /// calls come from the payment's loop and from its prompt's task.
    private let since = Locked<ContinuousClock.Instant?>(nil)
    let promptTasks = PromptTasks()

    init(
        terminalID: String, grace: Duration, changes: @escaping @Sendable () async -> AsyncStream<Void>? = { nil },
        lookup: @escaping @Sendable () async -> (any CustomerTerminal)?
    ) {
        self.terminalID = terminalID
        self.grace = grace
        self.changes = changes
        self.lookup = lookup
    }

    func paymentStarted() async {
        await lookup()?.paymentStarted()
    }

    func paymentEnded() async {
        await lookup()?.paymentEnded()
    }

    func show(_ screen: CustomerScreen) async {
        await lookup()?.show(screen)
    }

    func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        promptTasks.start(id, ask: { await self.ask(prompt, id: id) }, reply: reply)
    }

    /// Cancels the prompt's task, which withdraws the prompt from the pad if it got that far.
    func withdrawPrompt(_ id: Int) async {
        promptTasks.cancel(id)
    }

    private func ask(_ prompt: CustomerPrompt, id: Int) async -> CustomerEntry {
        let deadline = since.withLock { first in
            if first == nil { first = .now }
            return first! + grace
        }
        while !Task.isCancelled {
            // Listening before looking: a pad that links between the look and the wait is not missed.
            let changes = await changes()
            if let terminal = await lookup() { return await terminal.entry(for: prompt, id: id) }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            await firstTerminalChange(changes, orAt: Date().addingTimeInterval(PaymentExecution.seconds(left)))
        }
        return .terminalUnavailable
    }
}
