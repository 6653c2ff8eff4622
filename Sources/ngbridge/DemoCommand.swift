import ArgumentParser
import Demo
import Foundation
import NetgiroAPI

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Take one payment end to end: simulated PIN pad + simulated Netgíró, no hardware, no network.",
        discussion: """
            Starts the Netgíró simulator on loopback and a simulated PIN pad on a pty, links the \
            bridge to the pad and runs one payment through the checkout core and the journal.
            Interactive (default on a terminal): the pad is drawn; type the customer's entries \
            (digits, Backspace = Clear, Enter = OK, Esc = Cancel). --scripted keys them itself.
            """)

    @Flag(help: "Key the customer's entries automatically (for CI and unattended runs).")
    var scripted = false

    @Option(help: "The customer: phone, kennitala (with an SMS code) or app-code.")
    var customer: String = "phone"

    @Option(help: "automatic, manual (default: the bridge captures) or server-callback.")
    var confirmation: String = "manual"

    @Option(help: "Amount in whole krónur.")
    var amount = 4990

    @Option(help: "Where to publish the simulated pad's device (default: a temporary path).")
    var link: String?

    func run() async throws {
        var demo = Demo()
        guard let kind = Demo.Customer(rawValue: customer) else {
            throw ValidationError("--customer must be phone, kennitala or app-code")
        }
        demo.customer = kind
        switch confirmation {
        case "automatic": demo.confirmation = .automatic
        case "manual": demo.confirmation = .manual
        case "server-callback": demo.confirmation = .serverCallback
        default: throw ValidationError("--confirmation must be automatic, manual or server-callback")
        }
        guard amount > 0 else { throw ValidationError("--amount must be a whole number of krónur above 0") }
        demo.amount = amount
        demo.interactive = !scripted && isatty(0) == 1 && isatty(1) == 1
        demo.linkPath = link
        let code = await demo.run { line in
            print(line)
            fflush(nil)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
