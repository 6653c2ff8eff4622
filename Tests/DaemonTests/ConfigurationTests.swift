import Foundation
import NetgiroAPI
import Testing
@testable import Bridge

@Suite struct ConfigurationTests {
    /// The least a working configuration needs, as environment variables.
    static let minimal = [
        "NGBRIDGE_NETGIRO_BASE_URL": "https://api.test.netgiro.is/v1/",
        "NGBRIDGE_NETGIRO_APP_KEY": NetgiroSecret.publicSandboxAppKey,
        "NGBRIDGE_NETGIRO_SECRET": "s3cret-from-the-environment",
    ]

    func load(_ env: [String: String], set: [String] = [], file: String? = nil) async throws(DaemonConfigurationError) -> DaemonConfiguration {
        try await DaemonConfiguration.load(overrides: set, filePath: file, environment: env)
    }

    /// Loads and expects one error line naming `key`.
    func failure(_ env: [String: String], set: [String] = [], file: String? = nil) async -> DaemonConfigurationError? {
        do {
            _ = try await load(env, set: set, file: file)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsFromMinimalEnvironment() async throws {
        let config = try await load(Self.minimal)
        #expect(config.netgiro.baseURL == "https://api.test.netgiro.is/v1/")
        #expect(config.netgiro.secretSource == "NGBRIDGE_NETGIRO_SECRET")
        #expect(config.api.listen == .unix(path: "/run/ngbridge/api.sock"))
        #expect(config.api.socketMode == 0o660)
        #expect(config.payments.defaultConfirmation == .manual, "Manual by default: an orphaned cart is never captured")
        #expect(config.device == .match(.supportedPads))
        #expect(config.journalPath == "/var/lib/ngbridge/journal.sqlite")
        #expect(config.callback == nil)
    }

    @Test func commandLineOverEnvironmentOverFile() async throws {
        let scratch = try ScratchDirectory()
        let file = try scratch.write("config.json", """
            {"netgiro": {"base-url": "http://127.0.0.1:1/v1/", "app-key": "from-file"},
             "device": {"path": "/dev/ttyFILE"},
             "payment": {"poll-min-ms": 700, "deadline": 120},
             "journal": {"path": "/tmp/file.sqlite"}}
            """)
        var env = Self.minimal
        env["NGBRIDGE_NETGIRO_BASE_URL"] = nil
        env["NGBRIDGE_DEVICE_PATH"] = "/dev/ttyENV"
        let config = try await load(env, set: ["journal.path=/tmp/cli.sqlite"], file: file)
        #expect(config.netgiro.baseURL == "http://127.0.0.1:1/v1/", "from the file")
        #expect(config.netgiro.appKey == NetgiroSecret.publicSandboxAppKey, "environment beats file")
        #expect(config.device == .path("/dev/ttyENV"))
        #expect(config.journalPath == "/tmp/cli.sqlite", "command line beats file")
        #expect(config.payments.pollMinimum == .milliseconds(700), "numbers from JSON")
        #expect(config.payments.deadline == .seconds(120))
    }

    @Test func secretFromFileNeverInDescription() async throws {
        let scratch = try ScratchDirectory()
        let secretFile = try scratch.write("secret", "very-secret-key\n", mode: 0o600)
        var env = Self.minimal
        env["NGBRIDGE_NETGIRO_SECRET"] = nil
        env["NGBRIDGE_NETGIRO_SECRET_FILE"] = secretFile
        let config = try await load(env)
        #expect(config.netgiro.secretSource == secretFile)
        #expect(!"\(config)".contains("very-secret-key"))
    }

    @Test(arguments: [
        ([String: String?](), [String](), "netgiro.base-url", "NGBRIDGE_NETGIRO_BASE_URL"),
        (["NGBRIDGE_NETGIRO_BASE_URL": nil], [], "netgiro.base-url", "not set"),
        (["NGBRIDGE_NETGIRO_BASE_URL": "ftp://x"], [], "netgiro.base-url", "not an http(s) URL"),
        (["NGBRIDGE_NETGIRO_BASE_URL": "http://api.netgiro.is/v1/"], [], "netgiro.base-url", "plain HTTP to another machine"),
        (["NGBRIDGE_NETGIRO_BASE_URL": "http://10.0.0.7:8080/v1/"], [], "netgiro.base-url", "use https://"),
        (["NGBRIDGE_NETGIRO_APP_KEY": nil], [], "netgiro.app-key", "not set"),
        (["NGBRIDGE_NETGIRO_SECRET": nil], [], "netgiro.secret-file", "NGBRIDGE_NETGIRO_SECRET"),
        (["NGBRIDGE_NETGIRO_SECRET_FILE": "/nonexistent/secret"], [], "netgiro.secret-file", "cannot read"),
        (["NGBRIDGE_API_LISTEN": "8080"], [], "api.listen", "not unix:/PATH or HOST:PORT"),
        (["NGBRIDGE_API_LISTEN": "0.0.0.0:8420"], [], "api.listen", "not a loopback address"),
        (["NGBRIDGE_API_LISTEN": "127.0.0.1:8420"], [], "api.token-file", "required when api.listen is TCP"),
        (["NGBRIDGE_API_SOCKET_MODE": "rw"], [], "api.socket-mode", "octal"),
        (["NGBRIDGE_DEVICE_MATCH": "12:zz"], [], "device.match", "VID:PID"),
        (["NGBRIDGE_PAYMENT_POLL_MIN_MS": "soon"], [], "payment.poll-min-ms", "not a whole number"),
        (["NGBRIDGE_PAYMENT_POLL_MIN_MS": "9000"], [], "payment.poll-max-ms", "below payment.poll-min-ms"),
        (["NGBRIDGE_PAYMENT_CONFIRMATION": "later"], [], "payment.confirmation", "not one of"),
        (["NGBRIDGE_PAYMENT_CONFIRMATION": "server-callback"], [], "payment.confirmation", "needs callback.listen"),
        (["NGBRIDGE_CALLBACK_LISTEN": "127.0.0.1:8421"], [], "callback.public-url", "required with callback.listen"),
        (["NGBRIDGE_API_ALLOW_NON_LOOPBACK": "maybe"], [], "api.allow-non-loopback", "not true or false"),
        ([:], ["journal.path"], "journal.path", "KEY=VALUE"),
        ([:], ["no.such.key=1"], "no.such.key", "no such setting"),
        ([:], ["journal.path=relative.sqlite"], "journal.path", "absolute"),
    ] as [([String: String?], [String], String, String)])
    func badOrMissingSettingStopsWithOneLineNamingTheKey(_ change: [String: String?], _ set: [String], _ key: String, _ words: String) async throws {
        var env = change.isEmpty && set.isEmpty ? [:] : Self.minimal
        for (name, value) in change { env[name] = value }
        let error = try #require(await failure(env, set: set))
        #expect(error.key == key)
        let line = error.description
        #expect(!line.contains("\n"), "one line")
        #expect(line.hasPrefix("configuration: \(key)"))
        #expect(line.contains(words), "\(line)")
    }

    @Test func tokenFileIsReadAndTooShortTokensAreRefused() async throws {
        let scratch = try ScratchDirectory()
        var env = Self.minimal
        env["NGBRIDGE_API_LISTEN"] = "127.0.0.1:8420"
        env["NGBRIDGE_API_TOKEN_FILE"] = try scratch.write("token", "short\n", mode: 0o600)
        #expect(await failure(env)?.key == "api.token-file")
        env["NGBRIDGE_API_TOKEN_FILE"] = try scratch.write("token2", "0123456789abcdef0123\n", mode: 0o600)
        let config = try await load(env)
        #expect(config.api.token == "0123456789abcdef0123")
        #expect(config.api.listen == .tcp(host: "127.0.0.1", port: 8420))
    }

    @Test func plainHTTPOnlyToThisMachine() async throws {
        for url in ["http://127.0.0.1:8080/v1/", "http://localhost:1/v1/", "http://[::1]:8080/v1/", "https://api.netgiro.is/v1/"] {
            var env = Self.minimal
            env["NGBRIDGE_NETGIRO_BASE_URL"] = url
            #expect(try await load(env).netgiro.baseURL == url)
        }
    }

    @Test func unknownKeyInTheConfigFileIsRefusedNamingIt() async throws {
        let scratch = try ScratchDirectory()
        let misspelt = try scratch.write("misspelt.json", #"{"netgiro": {"baseurl": "x"}}"#)
        let error = try #require(await failure(Self.minimal, file: misspelt))
        #expect(error.key == "netgiro.baseurl")
        #expect(error.exitStatus == .configuration)
        #expect(error.description.contains(misspelt) && error.description.contains("did you mean netgiro.base-url?"), "\(error)")

        let stray = try scratch.write("stray.json", #"{"journal": {"path": "/tmp/x.sqlite"}, "logging": {"level": "debug"}}"#)
        #expect(await failure(Self.minimal, file: stray)?.key == "logging")
        let objectForValue = try scratch.write("object.json", #"{"journal": {"path": {"file": "/tmp/x"}}}"#)
        #expect(await failure(Self.minimal, file: objectForValue)?.key == "journal.path")
        let fine = try scratch.write("fine.json", #"{"journal": {"path": "/tmp/x.sqlite"}, "log": {"level": "debug"}}"#)
        #expect(try await load(Self.minimal, file: fine).logLevel == "debug")
    }

    @Test(arguments: [
        ("{\"netgiro\": {\"base-url\": \"x\",}\n", "line 2, column 1"),
        ("{\"netgiro\":\n  {\"base-url\" \"x\"}}", "line 2, column 15"),
        ("", "empty"),
        ("[1, 2]", "not a JSON object of settings"),
    ])
    func malformedConfigFileNamesTheFileAndWhereInWords(_ text: String, _ words: String) async throws {
        let scratch = try ScratchDirectory()
        let file = try scratch.write("config.json", text)
        let error = try #require(await failure(Self.minimal, file: file))
        let line = error.description
        #expect(error.key == "--config")
        #expect(line.contains(file) && line.contains(words), "\(line)")
        #expect(!line.contains("NSCocoaErrorDomain") && !line.contains("Error Domain") && !line.contains("\n"), "\(line)")
    }

    @Test func secretFileEveryUserMayReadIsRefused() async throws {
        let scratch = try ScratchDirectory()
        var env = Self.minimal
        env["NGBRIDGE_NETGIRO_SECRET"] = nil
        env["NGBRIDGE_NETGIRO_SECRET_FILE"] = try scratch.write("secret", "very-secret-key\n", mode: 0o644)
        let error = try #require(await failure(env))
        #expect(error.key == "netgiro.secret-file" && error.description.contains("0644") && error.description.contains("chmod"), "\(error)")
        #expect(!error.description.contains("very-secret-key"))
        env["NGBRIDGE_NETGIRO_SECRET_FILE"] = try scratch.write("secret-group", "very-secret-key\n", mode: 0o640)
        #expect(try await load(env).netgiro.secretSource.hasSuffix("secret-group"), "group-readable is how the package installs it")

        var tcp = Self.minimal
        tcp["NGBRIDGE_API_LISTEN"] = "127.0.0.1:8420"
        tcp["NGBRIDGE_API_TOKEN_FILE"] = try scratch.write("token", "0123456789abcdef0123\n", mode: 0o604)
        #expect(await failure(tcp)?.key == "api.token-file")
    }

    @Test func checkConfigFindsAJournalDirectoryThatCannotBeWritten() async throws {
        let scratch = try ScratchDirectory()
        for path in ["/proc/nope/j.sqlite", "/etc/hostname/j.sqlite", scratch.path + "/file/j.sqlite"] {
            _ = try scratch.write("file", "not a directory")
            let config = try await load(Self.minimal, set: ["journal.path=\(path)"])
            let error = try #require(throws: DaemonConfigurationError.self) { try config.checkJournalPlace() }
            #expect(error.key == "journal.path" && error.exitStatus == .cannotCreate, "\(error)")
            #expect(error.description.hasPrefix("cannot start: journal.path") && !error.description.contains("NSCocoaErrorDomain"), "\(error)")
        }
        // A directory still to be made is fine when its parent is writable — and is not made by the check.
        let config = try await load(Self.minimal, set: ["journal.path=\(scratch.path)/new/journal.sqlite"])
        try config.checkJournalPlace()
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/new"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["file"], "the probe file is removed")
    }

    @Test func listenAddressForms() {
        #expect(DaemonConfiguration.ListenAddress.parse("unix:/run/x.sock") == .unix(path: "/run/x.sock"))
        #expect(DaemonConfiguration.ListenAddress.parse("127.0.0.1:0") == .tcp(host: "127.0.0.1", port: 0))
        #expect(DaemonConfiguration.ListenAddress.parse("[::1]:8420") == .tcp(host: "::1", port: 8420))
        #expect(DaemonConfiguration.ListenAddress.parse("unix:relative") == nil)
        #expect(DaemonConfiguration.ListenAddress.parse("host:99999") == nil)
        #expect(DaemonConfiguration.ListenAddress.parse("[::1]:8420")?.isLoopback == true)
        #expect(DaemonConfiguration.ListenAddress.parse("10.0.0.2:1")?.isLoopback == false)
    }

    @Test func everyKeyHasItsEnvironmentVariable() {
        #expect(DaemonConfiguration.environmentName(of: "netgiro.base-url") == "NGBRIDGE_NETGIRO_BASE_URL")
        #expect(DaemonConfiguration.environmentName(of: "api.token-file") == "NGBRIDGE_API_TOKEN_FILE")
        #expect(Set(DaemonConfiguration.keys.map(\.name)).count == DaemonConfiguration.keys.count)
    }
}
