import ArgumentParser
import Bridge

/// `ngbridge`: the one executable. Argument parsing only; the work lives in the library modules.
@main
struct NGBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ngbridge",
        abstract: "Take Netgíró payments at a till through a customer-facing PIN pad.",
        discussion: """
            The bridge drives a USB-serial PIN pad over its framed protocol (protocol/PROTOCOL.md) \
            and runs Netgíró's v1 offline (POS) checkout for the till.
            """,
        version: BridgeVersion.current,
        subcommands: [
            DemoCommand.self, SoakCommand.self,
            ProtocolCommand.self,
            DevicesCommand.self,
            SimCommand.self, NetgiroCommand.self,
            RunCommand.self, PayCommand.self, PaymentCommand.self, PaymentsCommand.self, CancelCommand.self, RefundCommand.self, TerminalsCommand.self, DoctorCommand.self,
            CertsCommand.self,
        ]
    )
}
