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
            --till-page runs the bridge itself (`ngbridge run`'s code) and serves an example till \
            on loopback: open the printed URL, take payments, watch the event stream, cancel, see \
            the receipt and today's payments. The customers at the pad take turns from --customer, \
            a comma-separated list (e.g. phone,kennitala,away — away keys nothing, for a till \
            cancel). Ctrl-C stops it.
            """)

    @Flag(help: "Key the customer's entries automatically (for CI and unattended runs).")
    var scripted = false

    @Option(help: "The customer: phone, kennitala (with an SMS code) or app-code. With --till-page a comma-separated list taken in turn, where away keys nothing.")
    var customer: String = "phone"

    @Option(help: "automatic, manual (default: the bridge captures) or server-callback.")
    var confirmation: String = "manual"

    @Option(help: "Amount in whole krónur.")
    var amount = 4990

    @Option(help: "Where to publish the simulated pad's device (default: a temporary path).")
    var link: String?

    @Flag(help: "Serve the example till page on loopback and run until Ctrl-C.")
    var tillPage = false

    @Option(help: "With --till-page: the loopback port for the page (0 picks one).")
    var port = 8421

    func run() async throws {
        if tillPage {
            try await runTillPage()
            return
        }
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

    func runTillPage() async throws {
        var demo = TillPageDemo()
        demo.customers = try customer.split(separator: ",").map { name -> Demo.Customer? in
            if name == "away" { return nil }
            guard let kind = Demo.Customer(rawValue: String(name)) else {
                throw ValidationError("--customer with --till-page: a comma-separated list of phone, kennitala, app-code or away")
            }
            return kind
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        demo.port = port
        let code = await demo.run { line in
            print(line)
            fflush(nil)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
