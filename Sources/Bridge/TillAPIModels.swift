// The payments side of the till API. The wire types (requests, payments, events, problems) and
// the request validation live in TillAPIContract, the admission rules and their refusals in
// Admission, both re-exported here so `import Bridge` keeps seeing them.
@_exported import Admission
@_exported import TillAPIContract

/// What the till API needs from the payments side. The daemon implements it on the payment
/// runner and the journal (``DaemonPaymentService``); tests may implement it with a script.
public protocol PaymentService: Sendable {
    /// Starts a payment. The request is already checked for form (field types, ranges).
    /// With an `idempotencyKey` seen before, returns that payment (`replayed`) instead of a
    /// second one — or refuses with ``PaymentServiceError/idempotencyKeyReused`` when the key
    /// came with a different request.
    func start(_ request: TillPaymentRequest, idempotencyKey: String?) async throws(PaymentServiceError) -> PaymentStart
    func payment(id: String) async -> TillPayment?
    /// Every event of the payment so far, then new ones as they happen; finishes after the outcome.
    /// A `nil` in the stream is a keep-alive tick its reader put there (``PaymentEvents/tick()``).
    func events(id: String) async -> PaymentEvents?
    /// Asks to cancel. Returns the payment as it is then (`cancel-requested`, or already final).
    func cancel(id: String) async throws(PaymentServiceError) -> TillPayment
    func terminals() async -> [TillTerminal]
    /// Payments matching the query, newest first, one page at a time.
    func payments(_ query: TillPaymentQuery) async throws(PaymentServiceError) -> TillPaymentPage
    /// Records what staff found in Netgíró's portal for an `unknown` payment.
    func resolve(id: String, _ resolution: TillResolutionRequest) async throws(PaymentServiceError) -> TillPayment
    /// Whether payments can be taken now (for `/healthz`): a reason if not.
    func readiness() async -> String?
}

/// One reader's stream of a payment's events, with a way for that reader to put a keep-alive
/// tick (`nil`) into it: the SSE response writes events and ticks from this one stream, so no
/// task copies each event into a second stream to interleave them.
public struct PaymentEvents: Sendable {
    public let stream: AsyncStream<TillPaymentEvent?>
    private let continuation: AsyncStream<TillPaymentEvent?>.Continuation

    public init(_ stream: AsyncStream<TillPaymentEvent?>, _ continuation: AsyncStream<TillPaymentEvent?>.Continuation) {
        self.stream = stream
        self.continuation = continuation
    }

    /// A stream for one reader, and its continuation for the events to come.
    public static func make() -> (PaymentEvents, AsyncStream<TillPaymentEvent?>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: TillPaymentEvent?.self, bufferingPolicy: .unbounded)
        return (PaymentEvents(stream, continuation), continuation)
    }

    /// A keep-alive tick: `nil` in the stream, behind the events already in it.
    public func tick() { continuation.yield(nil) }

    /// Ends the stream for its reader (later events are dropped).
    public func end() { continuation.finish() }
}

public struct PaymentStart: Sendable {
    public var payment: TillPayment
    /// The idempotency key had started this payment before.
    public var replayed: Bool

    public init(payment: TillPayment, replayed: Bool) {
        self.payment = payment
        self.replayed = replayed
    }
}
