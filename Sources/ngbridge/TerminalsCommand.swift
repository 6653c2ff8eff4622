import ArgumentParser
import Bridge
import Foundation

/// `ngbridge terminals`
struct TerminalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminals", abstract: "List the PIN pads the daemon drives, and whether each is linked.")

    @Flag(help: "Print the API's JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    struct List: Decodable { var terminals: [TillTerminal] }

    func run() async throws {
        let answer = try await callDaemon(address) { try await $0.terminals() }
        try show(answer, json: json) { answer in
            let list = try answer.decode(List.self).terminals
            if list.isEmpty { return "no terminals — is a pad plugged in? `ngbridge doctor` checks" }
            return list.map { t in
                [t.id, t.status, t.model ?? "-", t.firmware ?? "-", t.path ?? "-", t.payment.map { "payment \($0)" } ?? "", t.detail ?? ""]
                    .joined(separator: "  ")
            }.joined(separator: "\n")
        }
    }
}
