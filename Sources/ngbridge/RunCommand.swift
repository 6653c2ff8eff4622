import ArgumentParser
import Bridge
import Foundation
import Logging

/// `ngbridge run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the bridge daemon: PIN pads, payments, the till API.",
        discussion: """
            Settings come from --set KEY=VALUE, then NGBRIDGE_* environment variables, then the JSON \
            file given by --config (or NGBRIDGE_CONFIG). A missing or bad setting stops start-up with \
            one line naming the key. The Netgíró secret is read from netgiro.secret-file or \
            NGBRIDGE_NETGIRO_SECRET, never from the command line.

            Keys:
            \(DaemonConfiguration.keys.map { "  \($0.name) (\($0.environmentVariable))\($0.defaultValue.map { " [default \($0)]" } ?? ""): \($0.meaning)" }.joined(separator: "\n"))
            """)

    @Option(help: ArgumentHelp("A JSON file of settings.", valueName: "PATH")) var config: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Set one key (repeatable).", valueName: "KEY=VALUE")) var settings: [String] = []
    @Flag(help: "Check the configuration, print it (without secrets) and exit.") var checkConfig = false

    func run() async throws {
        let configuration: DaemonConfiguration
        do {
            configuration = try await DaemonConfiguration.load(overrides: settings, filePath: config)
        } catch {
            FileHandle.standardError.write(Data("ngbridge: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG: systemd does not restart-loop on it with RestartPreventExitStatus
        }
        if checkConfig {
            print("configuration is valid: netgiro \(configuration.netgiro.baseURL), secret from \(configuration.netgiro.secretSource), api \(configuration.api.listen), journal \(configuration.journalPath)")
            return
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in
            var handler = DaemonLogHandler(label: label, json: format == .json)
            handler.logLevel = level
            return handler
        }
        try await Daemon.run(configuration: configuration, logger: Logger(label: "ngbridge"))
    }
}
