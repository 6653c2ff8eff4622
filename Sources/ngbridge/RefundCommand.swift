import ArgumentParser
import Bridge
import Foundation

struct RefundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund", abstract: "Refund a paid payment through Netgíró, in full or in part.",
        discussion: """
            Without --amount, all that is left to refund. The bridge never refunds more than was \
            paid. Each refund has an idempotency key (--key, default: a new one, printed): if the \
            answer says `unknown` (no answer says whether Netgíró refunded), run the same command \
            with the same --key to ask again; it cannot refund twice. --list shows the payment's \
            refunds.
            """)

    @Argument(help: "The payment id.") var id: String
    @Option(help: "Whole krónur to refund (default: all that is left).") var amount: Int?
    @Option(help: "Why, in a few words (at most 100 characters; Netgíró sees it).") var reason: String?
    @Option(help: "The idempotency key of this refund (repeat it to retry the same refund).") var key: String?
    @Flag(help: "List the payment's refunds instead.") var list = false
    @Flag(help: "Print the API's JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func run() async throws {
        let path = "/v1/payments/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)/refunds"
        if list {
            let answer = try await callDaemon(address) { try await $0.request(.GET, path) }
            try show(answer, json: json) { answer in
                let list = try answer.decode(TillRefundList.self)
                return (list.refunds.map(Self.line) + ["refunded   \(list.refunded) ISK; refundable \(list.refundable) ISK"]).joined(separator: "\n")
            }
            return
        }
        if let amount, amount <= 0 { throw ValidationError("--amount must be a whole number of krónur above 0") }
        var body: [String: Any] = [:]
        if let amount { body["amount"] = amount }
        if let reason { body["reason"] = reason }
        let idempotencyKey = key ?? UUID().uuidString.lowercased()
        let data = try JSONSerialization.data(withJSONObject: body)
        let answer = try await callDaemon(address) {
            try await $0.request(.POST, path, body: data, headers: [("Idempotency-Key", idempotencyKey)])
        }
        try show(answer, json: json) { answer in
            let refund = try answer.decode(TillRefund.self)
            var text = Self.line(refund) + "\nkey        \(idempotencyKey)"
            if refund.state == "unknown" {
                text += "\nNo answer says whether Netgíró refunded. Ask again: ngbridge refund \(id) --key \(idempotencyKey)"
                    + (amount.map { " --amount \($0)" } ?? "") + (reason == nil ? "" : " --reason …")
            }
            return text
        }
    }

    static func line(_ r: TillRefund) -> String {
        "refund     \(r.id)  \(r.amount) ISK  \(r.state)" + (r.message.map { "  — \($0)" } ?? "")
    }
}
