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
            one line naming the key and a sysexits status: 78 a setting to fix, 69 something taken \
            (address in use, another daemon on the socket or journal), 73 a file or directory that cannot \
            be created; 70 a failure after start-up. The Netgíró secret is read from netgiro.secret-file or \
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
            if checkConfig { try configuration.checkJournalPlace() }
        } catch {
            // One line naming the key; EX_CONFIG (78) stops systemd's restarts
            // (RestartPreventExitStatus=78), a journal directory it cannot write is EX_CANTCREAT (73).
            DaemonLogHandler.writeFailure("ngbridge: \(error)")
            throw ExitCode(error.exitStatus.rawValue)
        }
        if checkConfig {
            print("configuration is valid: netgiro \(configuration.netgiro.baseURL), secret from \(configuration.netgiro.secretSource), api \(configuration.api.listen), journal \(configuration.journalPath) (its directory is writable)")
            return
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in
            var handler = DaemonLogHandler(label: label, json: format == .json)
            handler.logLevel = level
            return handler
        }
        do {
            try await Daemon.run(configuration: configuration, logger: Logger(label: "ngbridge"))
        } catch let error as DaemonConfigurationError {
            DaemonLogHandler.writeFailure("ngbridge: \(error)")
            throw ExitCode(error.exitStatus.rawValue)
        } catch {
            DaemonLogHandler.writeFailure("ngbridge: stopped by a failure: \(error)")
            throw ExitCode(DaemonExitStatus.software.rawValue)
        }
    }
}
