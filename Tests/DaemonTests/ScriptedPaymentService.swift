import Foundation
@testable import Bridge

/// A payment service whose payments move only when the test says so: for testing the HTTP
/// layer (routes, validation, idempotency, SSE framing, auth) apart from the checkout.
actor ScriptedPaymentService: PaymentService {
    struct Record {
        var payment: TillPayment
        var events: [TillPaymentEvent]
        var listeners: [AsyncStream<TillPaymentEvent?>.Continuation]
    }

    private var records: [String: Record] = [:]
    private var order: [String] = []
    private(set) var startCalls = 0
    var terminalList: [TillTerminal] = [TillTerminal(id: "NGP-0001", status: "online", model: "NG-PAD-1")]
    var notReady: String?

    func setNotReady(_ reason: String?) { notReady = reason }

    private var keys: [String: (TillPaymentRequest, String)] = [:]

    func start(_ request: TillPaymentRequest, idempotencyKey: String?) async throws(PaymentServiceError) -> PaymentStart {
        if let idempotencyKey, let (earlier, id) = keys[idempotencyKey] {
            guard earlier == request else { throw .idempotencyKeyReused }
            return PaymentStart(payment: records[id]!.payment, replayed: true)
        }
        let payment = try startNew(request)
        if let idempotencyKey { keys[idempotencyKey] = (request, payment.id) }
        return PaymentStart(payment: payment, replayed: false)
    }

    private func startNew(_ request: TillPaymentRequest) throws(PaymentServiceError) -> TillPayment {
        startCalls += 1
        let terminal: String
        if let named = request.terminal {
            guard terminalList.contains(where: { $0.id == named }) else { throw .noSuchTerminal(named) }
            terminal = named
        } else {
            guard terminalList.count == 1 else { throw .terminalRequired(available: terminalList.map(\.id)) }
            terminal = terminalList[0].id
        }
        if let busy = records.values.first(where: { $0.payment.terminal == terminal && !$0.payment.final }) {
            throw .terminalBusy(terminal: terminal, payment: busy.payment.id)
        }
        let id = "pay_\(order.count + 1)"
        let now = Date()
        let payment = TillPayment(
            id: id, state: .created, amount: request.amount, reference: request.reference, description: request.description,
            confirmation: request.confirmation ?? .manual, terminal: terminal, createdAt: now, updatedAt: now)
        records[id] = Record(payment: payment, events: [], listeners: [])
        order.append(id)
        emit(id, kind: .state, state: .created)
        return payment
    }

    func payment(id: String) async -> TillPayment? { records[id]?.payment }

    func events(id: String) async -> PaymentEvents? {
        guard var record = records[id] else { return nil }
        let (events, continuation) = PaymentEvents.make()
        for event in record.events { continuation.yield(event) }
        if record.payment.final {
            continuation.finish()
        } else {
            record.listeners.append(continuation)
            records[id] = record
        }
        return events
    }

    func cancel(id: String) async throws(PaymentServiceError) -> TillPayment {
        guard let record = records[id] else { throw .noSuchPayment(id) }
        if record.payment.state == .cancelled { return record.payment }
        if record.payment.final { throw .alreadyFinal(record.payment) }
        advance(id, to: .cancelRequested)
        return records[id]!.payment
    }

    func terminals() async -> [TillTerminal] { terminalList }

    private(set) var lastQuery: TillPaymentQuery?

    /// Newest first (the order they were started in, reversed); the cursor names the last id.
    func payments(_ query: TillPaymentQuery) async throws(PaymentServiceError) -> TillPaymentPage {
        lastQuery = query
        var matching = order.reversed().compactMap { records[$0]?.payment }.filter { p in
            (query.reference == nil || p.reference == query.reference) && (query.state == nil || p.state == query.state)
                && (query.terminal == nil || p.terminal == query.terminal)
        }
        if let cursor = query.cursor, let at = matching.firstIndex(where: { $0.id == cursor.id }) {
            matching = Array(matching[(at + 1)...])
        }
        let page = Array(matching.prefix(query.limit))
        let next = matching.count > query.limit ? page.last.map { TillPaymentCursor(createdAt: "2026-01-01 00:00:00.000", id: $0.id).token } : nil
        return TillPaymentPage(payments: page, nextCursor: next)
    }

    func resolve(id: String, _ resolution: TillResolutionRequest) async throws(PaymentServiceError) -> TillPayment {
        guard var record = records[id] else { throw .noSuchPayment(id) }
        guard record.payment.state == .unknown else {
            throw .resolutionRefused(reason: "the payment ended \(record.payment.state.rawValue)", payment: record.payment)
        }
        record.payment.resolution = TillResolution(
            outcome: resolution.outcome, transactionId: resolution.transactionId, note: resolution.note, resolvedAt: Date())
        records[id] = record
        return record.payment
    }

    func readiness() async -> String? { notReady }

    // MARK: - Script

    func advance(_ id: String, to state: TillPaymentState, transactionId: String? = nil, invoiceNumber: String? = nil) {
        guard var record = records[id] else { return }
        record.payment.state = state
        record.payment.final = state.isFinal
        record.payment.updatedAt = Date()
        if let transactionId { record.payment.transactionId = transactionId }
        if let invoiceNumber { record.payment.invoiceNumber = invoiceNumber }
        records[id] = record
        emit(id, kind: .state, state: state)
        if state.isFinal { emit(id, kind: .outcome, state: state) }
    }

    func prompt(_ id: String, _ prompt: String) { emit(id, kind: .prompt, prompt: prompt) }

    /// Event streams open on the payment now.
    func listeners(_ id: String) -> Int { records[id]?.listeners.count ?? 0 }

    private func emit(_ id: String, kind: TillPaymentEvent.Kind, state: TillPaymentState? = nil, prompt: String? = nil) {
        guard var record = records[id] else { return }
        let event = TillPaymentEvent(
            sequence: record.events.count + 1, kind: kind, state: state, prompt: prompt,
            payment: kind == .outcome ? record.payment : nil)
        record.events.append(event)
        for listener in record.listeners { listener.yield(event) }
        if kind == .outcome {
            for listener in record.listeners { listener.finish() }
            record.listeners = []
        }
        records[id] = record
    }
}
