/// Takes one cart through Netgíró's flow by the result codes, for the `ngbridge netgiro pay`
/// diagnostic command: InsertCart, then CheckCart at Netgíró's interval; on 10428 ask for the SMS
/// code and ConfirmCart with it; on 10426 ConfirmCart; stop at paid, declined or cancelled; after
/// `giveUpAfter`, CancelCart (an answer of 10200 means the customer won the race: paid).
///
/// This is a tool for trying an endpoint by hand, not the bridge's checkout core: it keeps no
/// journal and does not survive a restart.
public struct NetgiroWalkthrough: Sendable {
    public enum Outcome: Sendable, Hashable, CustomStringConvertible {
        case paid(transactionId: String)
        case notPaid(transactionId: String?, ResultCode, message: String?)
        case gaveUp(transactionId: String, cancelAnswer: ResultCode)

        public var description: String {
            switch self {
            case .paid(let id): return "paid (TransactionId \(id))"
            case .notPaid(let id, let code, let message):
                return "not paid: \(code)\(message.map { " — \($0)" } ?? "")\(id.map { " (TransactionId \($0))" } ?? "")"
            case .gaveUp(let id, let answer): return "gave up and cancelled (TransactionId \(id)); CancelCart answered \(answer)"
            }
        }
    }

    public var client: NetgiroClient
    public var giveUpAfter: Duration
    /// Poll interval bounds applied to Netgíró's `ProcessCartCheckIntervalMiliseconds`.
    public var minInterval: Duration = .milliseconds(500)
    public var maxInterval: Duration = .seconds(5)

    public init(client: NetgiroClient, giveUpAfter: Duration = .seconds(120)) {
        self.client = client
        self.giveUpAfter = giveUpAfter
    }

    /// - Parameters:
    ///   - smsCode: asked for the SMS payment code when Netgíró needs it (nil: give up).
    ///   - report: one line per step, customer data masked.
    public func run(
        _ request: InsertCartRequest, smsCode: @Sendable () async -> String?, report: @Sendable (String) -> Void
    ) async throws(NetgiroClientError) -> Outcome {
        report("InsertCart \(request)")
        let inserted = try await client.insertCart(request)
        report("→ \(inserted.resultCode)\(inserted.message.map { ": \($0)" } ?? "")")
        guard inserted.success, let id = inserted.transactionId else {
            return .notPaid(transactionId: inserted.transactionId, inserted.resultCode, message: inserted.message)
        }
        report("TransactionId \(id)")
        let interval = min(max(inserted.processCartCheckInterval ?? .seconds(3), minInterval), maxInterval)
        let started = ContinuousClock.now
        var code = inserted.resultCode
        while true {
            switch code {
            case .paymentCompleted:
                return .paid(transactionId: id)
            case .smsCodeRequired:
                guard let sms = await smsCode(), !sms.isEmpty else {
                    let cancel = try await client.cancelCart(transactionId: id)
                    return .gaveUp(transactionId: id, cancelAnswer: cancel.resultCode)
                }
                let confirmed = try await client.confirmCart(transactionId: id, identifier: sms)
                report("ConfirmCart(code \(PersonalData.mask(sms))) → \(confirmed.resultCode)\(confirmed.message.map { ": \($0)" } ?? "")")
                code = confirmed.resultCode
                continue
            case .reservationAwaitingConfirmCart:
                let confirmed = try await client.confirmCart(transactionId: id)
                report("ConfirmCart → \(confirmed.resultCode)")
                code = confirmed.resultCode
                if code == .paymentCompleted || code == .alreadyConfirmed { return .paid(transactionId: id) }
            case .ok, .pendingCustomerConfirmation, .awaitingCallbackResponse:
                break
            default:
                let check = try await client.checkCart(transactionId: id)
                if check.paymentSuccessful { return .paid(transactionId: id) }
                return .notPaid(transactionId: id, code, message: check.message)
            }
            if ContinuousClock.now - started > giveUpAfter {
                let cancel = try await client.cancelCart(transactionId: id)
                report("CancelCart → \(cancel.resultCode)")
                if cancel.resultCode == .paymentCompleted { return .paid(transactionId: id) }
                return .gaveUp(transactionId: id, cancelAnswer: cancel.resultCode)
            }
            try? await Task.sleep(for: interval)
            let check = try await client.checkCart(transactionId: id)
            if check.resultCode != code { report("CheckCart → \(check.resultCode)\(check.message.map { ": \($0)" } ?? "")") }
            code = check.resultCode
            if check.paymentSuccessful { return .paid(transactionId: id) }
        }
    }
}
