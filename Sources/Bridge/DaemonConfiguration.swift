import Configuration
import DeviceWatch
import Foundation
import NetgiroAPI
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything `ngbridge run` needs, read and checked once at start-up.
///
/// Sources, highest priority first (swift-configuration's provider hierarchy):
/// 1. `--set KEY=VALUE` on the command line (never for secrets: there is no key that holds one),
/// 2. environment variables: the key upper-cased with `.` and `-` as `_`, prefixed `NGBRIDGE_`
///    (`netgiro.base-url` → `NGBRIDGE_NETGIRO_BASE_URL`),
/// 3. a JSON file (`--config PATH`, or `NGBRIDGE_CONFIG`), nested by the dots of the keys:
///    `{"netgiro": {"base-url": "…"}}`,
/// 4. the defaults below.
///
/// A missing or bad setting stops start-up with one line naming the key and what is wrong
/// (``DaemonConfigurationError``). The keys are listed in ``DaemonConfiguration/keys``.
public struct DaemonConfiguration: Sendable {
    public struct Netgiro: Sendable {
        public var baseURL: String
        public var appKey: String
        /// Where the secret came from (a path, or the environment variable): for `doctor`, never the value.
        public var secretSource: String
        public var secret: NetgiroSecret
        public var responseSignatures: ResponseSignatureMode
        public var requestTimeout: Duration
    }

    public enum Device: Sendable, Equatable {
        /// One pad at a fixed path (a simulator's pty, a serial port without udev), reopened after loss.
        case path(String)
        /// Every USB pad the filter matches, followed through hotplug.
        case match(PadFilter)
    }

    public struct API: Sendable {
        public var listen: ListenAddress
        /// The bearer token clients must send on TCP (required there); optional on the unix socket.
        public var token: String?
        public var tokenFile: String?
        public var socketMode: UInt16
        public var maxBodyBytes: Int
        public var allowNonLoopback: Bool
    }

    public struct Callback: Sendable {
        public var listen: ListenAddress
        /// The URL Netgíró calls (reaches `listen` through whatever proxy the site has).
        public var publicURL: String
    }

    public struct Payments: Sendable {
        /// The confirmation type when the till names none.
        public var defaultConfirmation: ConfirmationType
        /// How long the customer has for one entry on the pad.
        public var entryTimeout: Duration
        /// The longest a payment may take from start to outcome before it is cancelled.
        public var deadline: Duration
        /// Bounds on Netgíró's CheckCart interval (it names one; we keep it within these).
        public var pollMinimum: Duration
        public var pollMaximum: Duration
        /// How long a pad may be away (unplugged, rebooting) before its prompt gives up.
        public var reconnectGrace: Duration
    }

    public var netgiro: Netgiro
    public var device: Device
    public var api: API
    public var callback: Callback?
    public var journalPath: String
    public var payments: Payments
    public var logFormat: LogFormat
    public var logLevel: String

    public enum LogFormat: String, Sendable { case text, json }

    /// Where the bridge listens.
    public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
        case unix(path: String)
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): return "unix:\(path)"
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            }
        }

        public var isLoopback: Bool {
            switch self {
            case .unix: return true
            case .tcp(let host, _):
                return host == "localhost" || host == "::1" || host.hasPrefix("127.")
            }
        }

        /// `unix:/path`, `HOST:PORT` or `[v6]:PORT`.
        public static func parse(_ text: String) -> ListenAddress? {
            if text.hasPrefix("unix:") {
                let path = String(text.dropFirst(5))
                guard path.hasPrefix("/"), path.utf8.count < 108 else { return nil }
                return .unix(path: path)
            }
            let host: Substring
            let portText: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                portText = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.lastIndex(of: ":") else { return nil }
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
            guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
            return .tcp(host: String(host), port: port)
        }
    }

    // MARK: - Keys

    /// A documented setting.
    public struct Key: Sendable {
        public var name: String
        public var meaning: String
        public var defaultValue: String?
        public var environmentVariable: String { DaemonConfiguration.environmentName(of: name) }
    }

    public static let defaultSocketPath = "/run/ngbridge/api.sock"

    /// Every key the daemon reads.
    public static let keys: [Key] = [
        Key(name: "netgiro.base-url", meaning: "Netgíró v1 API base URL (https://api.netgiro.is/v1/, the test host, or a simulator)", defaultValue: nil),
        Key(name: "netgiro.app-key", meaning: "the ApplicationId Netgíró issued", defaultValue: nil),
        Key(name: "netgiro.secret-file", meaning: "file holding the SecretKey (else the environment variable NGBRIDGE_NETGIRO_SECRET)", defaultValue: nil),
        Key(name: "netgiro.response-signatures", meaning: "verify | warn | off: how to treat unsigned or mis-signed answers", defaultValue: "warn"),
        Key(name: "netgiro.request-timeout", meaning: "seconds one Netgíró call may take", defaultValue: "20"),
        Key(name: "device.path", meaning: "a pad at a fixed path (e.g. a simulator's pty); instead of device.match", defaultValue: nil),
        Key(name: "device.match", meaning: "comma-separated USB VID:PID list of pads to drive", defaultValue: USBID.referencePad.description),
        Key(name: "device.serials", meaning: "comma-separated USB serial numbers: drive only these pads", defaultValue: nil),
        Key(name: "api.listen", meaning: "unix:/PATH or HOST:PORT for the till API", defaultValue: "unix:" + defaultSocketPath),
        Key(name: "api.token-file", meaning: "file holding the bearer token tills must send (required on TCP)", defaultValue: nil),
        Key(name: "api.allow-non-loopback", meaning: "true to let the till API listen on a non-loopback TCP address", defaultValue: "false"),
        Key(name: "api.socket-mode", meaning: "octal file mode of the unix socket", defaultValue: "0660"),
        Key(name: "api.max-body-bytes", meaning: "largest request body the till API reads", defaultValue: "65536"),
        Key(name: "journal.path", meaning: "the SQLite payment journal", defaultValue: "/var/lib/ngbridge/journal.sqlite"),
        Key(name: "callback.listen", meaning: "HOST:PORT for Netgíró's ServerCallback POSTs (off when unset)", defaultValue: nil),
        Key(name: "callback.public-url", meaning: "the https URL Netgíró calls to reach callback.listen", defaultValue: nil),
        Key(name: "payment.confirmation", meaning: "manual | automatic | server-callback when the till names none", defaultValue: "manual"),
        Key(name: "payment.entry-timeout", meaning: "seconds the customer has for one entry on the pad", defaultValue: "60"),
        Key(name: "payment.deadline", meaning: "seconds a payment may take from start to outcome", defaultValue: "300"),
        Key(name: "payment.poll-min-ms", meaning: "lower bound on the CheckCart interval", defaultValue: "500"),
        Key(name: "payment.poll-max-ms", meaning: "upper bound on the CheckCart interval", defaultValue: "5000"),
        Key(name: "terminal.reconnect-grace", meaning: "seconds a pad may be away mid-prompt before the prompt gives up", defaultValue: "30"),
        Key(name: "log.format", meaning: "text | json", defaultValue: "text"),
        Key(name: "log.level", meaning: "trace | debug | info | notice | warning | error", defaultValue: "info"),
    ]

    public static func environmentName(of key: String) -> String {
        "NGBRIDGE_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    // MARK: - Loading

    /// Reads the configuration from the command line's `--set` pairs, the environment and a file.
    ///
    /// - Parameters:
    ///   - overrides: `KEY=VALUE` pairs from the command line.
    ///   - filePath: a JSON file; nil means `NGBRIDGE_CONFIG` if set, else none.
    ///   - environment: the process environment (injectable for tests).
    public static func load(
        overrides: [String] = [], filePath: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(DaemonConfigurationError) -> DaemonConfiguration {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for pair in overrides {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw DaemonConfigurationError(key: pair, problem: "a --set needs KEY=VALUE")
            }
            let key = String(pair[..<eq])
            guard keys.contains(where: { $0.name == key }) else {
                throw DaemonConfigurationError(key: key, problem: "no such setting (see `ngbridge run --help` for the keys)")
            }
            values[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(String(pair[pair.index(after: eq)...])), isSecret: false)
        }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "command line", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "ngbridge"),
        ]
        if let path = filePath ?? environment["NGBRIDGE_CONFIG"] {
            guard FileManager.default.isReadableFile(atPath: path), let data = FileManager.default.contents(atPath: path) else {
                throw DaemonConfigurationError(key: "--config", problem: "cannot read \(path) — check the path and its permissions")
            }
            try checkFile(data, path: path)
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
            } catch {
                throw DaemonConfigurationError(key: "--config", problem: "\(path) is not a JSON object of settings: \(readable(error))")
            }
        }
        return try resolve(ConfigReader(providers: providers), environment: environment)
    }

    /// A configuration file is a JSON object whose nesting follows the keys' dots, and holds
    /// nothing else: a misspelt key would otherwise be ignored in silence and its default used.
    static func checkFile(_ data: Data, path: String) throws(DaemonConfigurationError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw DaemonConfigurationError(key: "--config", problem: "\(path) is not valid JSON: \(jsonProblem(error, data: data))")
        }
        guard let top = object as? [String: Any] else {
            throw DaemonConfigurationError(
                key: "--config", problem: "\(path) is not a JSON object of settings — e.g. {\"netgiro\": {\"base-url\": \"https://api.netgiro.is/v1/\"}}")
        }
        func walk(_ object: [String: Any], prefix: String) throws(DaemonConfigurationError) {
            for (name, value) in object.sorted(by: { $0.key < $1.key }) {
                let key = prefix + name
                if keys.contains(where: { $0.name == key }) {
                    guard !(value is [String: Any]) else {
                        throw DaemonConfigurationError(key: key, problem: "in \(path) is an object; it takes a single value")
                    }
                    continue
                }
                if let nested = value as? [String: Any], keys.contains(where: { $0.name.hasPrefix(key + ".") }) {
                    try walk(nested, prefix: key + ".")
                    continue
                }
                throw DaemonConfigurationError(key: key, problem: "no such setting in \(path)\(suggestion(for: key)) (see `ngbridge run --help` for the keys)")
            }
        }
        try walk(top, prefix: "")
    }

    /// ` — did you mean netgiro.base-url?` when a known key differs only in case, `-`, `_` or `.`.
    static func suggestion(for key: String) -> String {
        func folded(_ text: String) -> String { text.lowercased().filter { $0.isLetter || $0.isNumber } }
        guard let near = keys.first(where: { folded($0.name) == folded(key) }) else { return "" }
        return " — did you mean \(near.name)?"
    }

    /// An error as words a person can act on: Foundation's errors by their localized
    /// description, never as `Error Domain=NSCocoaErrorDomain Code=…`.
    static func readable(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return "\(ns.localizedDescription) (\(String(cString: strerror(Int32(posix.code)))))"
        }
        return ns.localizedDescription
    }

    /// What is wrong with malformed JSON and where (line and column), in words, never the
    /// parser's error object.
    static func jsonProblem(_ error: any Error, data: Data) -> String {
        if data.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) { return "the file is empty" }
        // Foundation's parser says "Invalid value around character 24." or "Unexpected end of
        // file during JSON parse."; a person wants a line and a column.
        var debug = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? ""
        if debug.hasSuffix(".") { debug.removeLast() }
        let bytes = Array(data)
        var offset: Int?
        var what = debug.isEmpty ? "not valid JSON" : debug.prefix(1).lowercased() + debug.dropFirst()
        if let range = debug.range(of: "around character ") {
            offset = Int(debug[range.upperBound...].prefix { $0.isNumber })
            what = String(debug[..<range.lowerBound]).trimmingCharacters(in: .whitespaces).lowercased()
        } else if debug.lowercased().contains("end of file") {
            offset = bytes.count
            what = "the file ends before the JSON is complete"
        }
        guard let offset else { return "\(what) (check quotes, commas and braces)" }
        let before = bytes.prefix(min(max(offset, 0), bytes.count))
        let line = before.filter { $0 == 0x0A }.count + 1
        let column = before.count - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        return "line \(line), column \(column): \(what) (check quotes, commas and braces)"
    }

    static func resolve(_ reader: ConfigReader, environment: [String: String]) throws(DaemonConfigurationError) -> DaemonConfiguration {
        let r = Resolver(reader: reader)

        // netgiro.*
        let baseURL = try r.required("netgiro.base-url")
        let lower = baseURL.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://"), URL(string: baseURL)?.host != nil else {
            throw r.error("netgiro.base-url", "\(baseURL) is not an http(s) URL — e.g. https://api.netgiro.is/v1/")
        }
        if lower.hasPrefix("http://"), let host = URL(string: baseURL)?.host, !isLoopbackHost(host) {
            throw r.error(
                "netgiro.base-url",
                "\(baseURL) is plain HTTP to another machine: the app key and signed payments would cross the network in clear — use https:// (plain http only for a simulator on 127.0.0.1 or localhost)")
        }
        let appKey = try r.required("netgiro.app-key")
        let secret: NetgiroSecret
        let secretSource: String
        if let file = r.string("netgiro.secret-file") {
            try refuseIfOthersMayRead(file, key: "netgiro.secret-file", what: "the Netgíró secret")
            do { secret = try NetgiroSecret.fromFile(file) } catch { throw r.error("netgiro.secret-file", "\(error)") }
            secretSource = file
        } else {
            do { secret = try NetgiroSecret.fromEnvironment(environment: environment) } catch {
                throw r.error(
                    "netgiro.secret-file",
                    "not set, and \(NetgiroSecret.environmentVariable) is empty — give a file holding the Netgíró SecretKey")
            }
            secretSource = NetgiroSecret.environmentVariable
        }
        let signatures = try r.choice("netgiro.response-signatures", ["verify": ResponseSignatureMode.verify, "warn": .warn, "off": .off])
        let requestTimeout = try r.seconds("netgiro.request-timeout", range: 1...120)

        // device.*
        let device: Device
        if let path = r.string("device.path") {
            guard path.hasPrefix("/") else { throw r.error("device.path", "\(path) is not an absolute path, e.g. /dev/ttyACM0") }
            device = .path(path)
        } else {
            let ids = r.list("device.match")
            let serials = r.list("device.serials")
            do { device = .match(try PadFilter(idStrings: ids, serials: serials)) } catch {
                throw r.error("device.match", "\(error.text) is not a USB VID:PID like 1209:0001")
            }
        }

        // api.*
        let listenText = try r.required("api.listen")
        guard let listen = ListenAddress.parse(listenText) else {
            throw r.error("api.listen", "\(listenText) is not unix:/PATH or HOST:PORT — e.g. unix:\(defaultSocketPath) or 127.0.0.1:8420")
        }
        let allowNonLoopback = try r.bool("api.allow-non-loopback")
        if !listen.isLoopback && !allowNonLoopback {
            throw r.error("api.listen", "\(listenText) is not a loopback address — the till API takes payments; set api.allow-non-loopback=true only behind a firewall you trust")
        }
        var token: String?
        let tokenFile = r.string("api.token-file")
        if let tokenFile {
            try refuseIfOthersMayRead(tokenFile, key: "api.token-file", what: "the till API's token")
            guard let data = FileManager.default.contents(atPath: tokenFile), let text = String(data: data, encoding: .utf8) else {
                throw r.error("api.token-file", "cannot read \(tokenFile) — check the path and that the ngbridge user may read it")
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.utf8.count >= 16 else {
                throw r.error("api.token-file", "the token in \(tokenFile) is shorter than 16 characters — e.g. `openssl rand -hex 32 > \(tokenFile)`")
            }
            token = trimmed
        }
        if case .tcp = listen, token == nil {
            throw r.error("api.token-file", "required when api.listen is TCP (\(listenText)): tills must present a bearer token")
        }
        let modeText = try r.required("api.socket-mode")
        guard let mode = UInt16(modeText, radix: 8), mode <= 0o777 else {
            throw r.error("api.socket-mode", "\(modeText) is not an octal file mode like 0660")
        }
        let maxBody = try r.int("api.max-body-bytes", range: 1024...(1 << 20))

        // callback.*
        var callback: Callback?
        if let listenText = r.string("callback.listen") {
            guard let address = ListenAddress.parse(listenText), case .tcp = address else {
                throw r.error("callback.listen", "\(listenText) is not HOST:PORT — e.g. 127.0.0.1:8421")
            }
            guard let publicURL = r.string("callback.public-url") else {
                throw r.error("callback.public-url", "required with callback.listen: the URL Netgíró calls, e.g. https://shop.example/ngbridge/callback")
            }
            guard let url = URL(string: publicURL), let scheme = url.scheme?.lowercased(), ["https", "http"].contains(scheme), url.host != nil else {
                throw r.error("callback.public-url", "\(publicURL) is not an http(s) URL")
            }
            callback = Callback(listen: address, publicURL: publicURL)
        }

        // payment.*, terminal.*
        let confirmation = try r.choice(
            "payment.confirmation", ["manual": ConfirmationType.manual, "automatic": .automatic, "server-callback": .serverCallback])
        if confirmation == .serverCallback, callback == nil {
            throw r.error("payment.confirmation", "server-callback needs callback.listen and callback.public-url")
        }
        let pollMin = try r.int("payment.poll-min-ms", range: 100...60_000)
        let pollMax = try r.int("payment.poll-max-ms", range: 100...60_000)
        guard pollMin <= pollMax else {
            throw r.error("payment.poll-max-ms", "\(pollMax) is below payment.poll-min-ms (\(pollMin))")
        }
        let payments = Payments(
            defaultConfirmation: confirmation,
            entryTimeout: try r.seconds("payment.entry-timeout", range: 5...600),
            deadline: try r.seconds("payment.deadline", range: 30...3600),
            pollMinimum: .milliseconds(pollMin), pollMaximum: .milliseconds(pollMax),
            reconnectGrace: try r.seconds("terminal.reconnect-grace", range: 1...600))

        let journalPath = try r.required("journal.path")
        guard journalPath.hasPrefix("/") || journalPath == ":memory:" else {
            throw r.error("journal.path", "\(journalPath) is not an absolute path")
        }
        let logFormat = try r.choice("log.format", ["text": LogFormat.text, "json": .json])
        let logLevel = try r.choice("log.level", Dictionary(uniqueKeysWithValues: ["trace", "debug", "info", "notice", "warning", "error", "critical"].map { ($0, $0) }))

        return DaemonConfiguration(
            netgiro: Netgiro(
                baseURL: baseURL, appKey: appKey, secretSource: secretSource, secret: secret,
                responseSignatures: signatures, requestTimeout: requestTimeout),
            device: device,
            api: API(
                listen: listen, token: token, tokenFile: tokenFile, socketMode: mode, maxBodyBytes: maxBody,
                allowNonLoopback: allowNonLoopback),
            callback: callback, journalPath: journalPath, payments: payments, logFormat: logFormat, logLevel: logLevel)
    }

    static func isLoopbackHost(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare.lowercased() == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// A file holding a secret that every user of the machine may read is refused, not warned
    /// about: a warning scrolls past in the journal while anyone who read the file can sign
    /// Netgíró requests (or pay through the till API) as this shop. sshd refuses private keys so
    /// for the same reason. Group-readable is fine (the package gives the file to the daemon's
    /// group). A file that does not exist is left to the reader, which names it.
    static func refuseIfOthersMayRead(_ path: String, key: String, what: String) throws(DaemonConfigurationError) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let mode = st.st_mode & 0o7777
        guard mode & 0o004 != 0 else { return }
        throw DaemonConfigurationError(
            key: key,
            problem: "\(path) holds \(what) and every user of this machine may read it (mode \(String(format: "%04o", mode))) — `chmod 0640 \(path)` (owner root, group of the ngbridge user) or 0600")
    }

    /// What `--check-config` adds to loading: the journal can be created (or opened for writing)
    /// where `journal.path` says — the directory exists or can be made, and this user may write
    /// there. Proven by creating (and removing) a file, since `access(2)` says yes to root even
    /// where nothing can be written (`/proc`).
    public func checkJournalPlace() throws(DaemonConfigurationError) {
        guard journalPath != ":memory:" else { return }
        let directory = (journalPath as NSString).deletingLastPathComponent
        var existing = directory
        var st = stat()
        while stat(existing, &st) != 0 {
            guard errno == ENOENT, existing != "/" else { break }
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard stat(existing, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw DaemonConfigurationError(
                key: "journal.path", problem: "cannot create \(journalPath): \(existing) is not a directory — choose another journal.path",
                exitStatus: .cannotCreate)
        }
        if FileManager.default.fileExists(atPath: journalPath) {
            let fd = open(journalPath, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                throw DaemonConfigurationError(
                    key: "journal.path", problem: "cannot open \(journalPath) for writing: \(String(cString: strerror(errno))) — let the ngbridge user write it",
                    exitStatus: .cannotCreate)
            }
            close(fd)
            return
        }
        let probe = existing + "/.ngbridge-check-\(getpid())"
        let fd = open(probe, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            let made = existing == directory ? "create files in \(directory)" : "create \(directory) (in \(existing))"
            throw DaemonConfigurationError(
                key: "journal.path", problem: "cannot \(made): \(reason) — choose a directory the ngbridge user may write, e.g. /var/lib/ngbridge",
                exitStatus: .cannotCreate)
        }
        close(fd)
        unlink(probe)
    }

    /// The client configuration for Netgíró.
    public func netgiroClientConfiguration() throws(DaemonConfigurationError) -> NetgiroConfiguration {
        do {
            return try NetgiroConfiguration(
                baseURL: netgiro.baseURL, appKey: netgiro.appKey, secret: netgiro.secret,
                responseSignatures: netgiro.responseSignatures, timeouts: .uniform(netgiro.requestTimeout))
        } catch {
            throw DaemonConfigurationError(key: "netgiro.base-url", problem: error.description)
        }
    }
}

/// How `ngbridge run` ends when it cannot start or run: sysexits(3) codes, so systemd (and a
/// person) can tell a configuration to fix from a resource that is busy now.
public enum DaemonExitStatus: Int32, Sendable {
    /// EX_UNAVAILABLE: something the daemon needs is taken (address in use, another daemon on
    /// the socket or journal) — may clear by itself, so systemd restarts.
    case unavailable = 69
    /// EX_SOFTWARE: the daemon stopped on a failure after it had started.
    case software = 70
    /// EX_CANTCREAT: the journal, its directory or the socket's cannot be created or written.
    case cannotCreate = 73
    /// EX_CONFIG: a setting is missing or wrong — restarting will not help
    /// (`RestartPreventExitStatus=78`).
    case configuration = 78
}

/// A setting that stops start-up: names the key (and its environment variable) and what is wrong.
public struct DaemonConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var problem: String
    public var exitStatus: DaemonExitStatus

    public init(key: String, problem: String, exitStatus: DaemonExitStatus = .configuration) {
        self.key = key
        self.problem = problem
        self.exitStatus = exitStatus
    }

    /// One line: `configuration: KEY (ENV): problem` for a bad setting, `cannot start: KEY …`
    /// when the setting is fine but what it names is unavailable.
    public var description: String {
        let env = DaemonConfiguration.keys.contains { $0.name == key } ? " (\(DaemonConfiguration.environmentName(of: key)))" : ""
        let kind = exitStatus == .configuration ? "configuration" : "cannot start"
        return DaemonLogHandler.escape("\(kind): \(key)\(env): \(problem)")
    }
}

/// Reads keys with their documented defaults and turns every problem into a one-line error.
private struct Resolver {
    let reader: ConfigReader

    func error(_ key: String, _ problem: String) -> DaemonConfigurationError {
        DaemonConfigurationError(key: key, problem: problem)
    }

    private func defaultValue(_ key: String) -> String? {
        DaemonConfiguration.keys.first { $0.name == key }?.defaultValue
    }

    /// The key's value as text, whatever type the source holds it as (environment variables and
    /// `--set` are text; a JSON file may hold numbers, booleans or arrays).
    private func raw(_ key: String) -> String? {
        let k = ConfigKey(key)
        if let s = reader.string(forKey: k) { return s }
        if let i = reader.int(forKey: k) { return String(i) }
        if let d = reader.double(forKey: k) { return String(d) }
        if let b = reader.bool(forKey: k) { return String(b) }
        if let a = reader.stringArray(forKey: k) { return a.joined(separator: ",") }
        return nil
    }

    func string(_ key: String) -> String? {
        guard let value = raw(key)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return defaultValue(key) }
        return value
    }

    func required(_ key: String) throws(DaemonConfigurationError) -> String {
        guard let value = string(key) else {
            throw error(key, "not set — set it in the config file, as \(DaemonConfiguration.environmentName(of: key)), or with --set \(key)=…")
        }
        return value
    }

    func list(_ key: String) -> [String] {
        (string(key) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func int(_ key: String, range: ClosedRange<Int>) throws(DaemonConfigurationError) -> Int {
        let text = try required(key)
        guard let value = Int(text) else { throw error(key, "\(text) is not a whole number") }
        guard range.contains(value) else { throw error(key, "\(value) is outside \(range.lowerBound)…\(range.upperBound)") }
        return value
    }

    func seconds(_ key: String, range: ClosedRange<Int>) throws(DaemonConfigurationError) -> Duration {
        .seconds(try int(key, range: range))
    }

    func bool(_ key: String) throws(DaemonConfigurationError) -> Bool {
        let text = try required(key).lowercased()
        switch text {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw error(key, "\(text) is not true or false")
        }
    }

    func choice<T>(_ key: String, _ options: [String: T]) throws(DaemonConfigurationError) -> T {
        let text = try required(key)
        guard let value = options[text.lowercased()] else {
            throw error(key, "\(text) is not one of \(options.keys.sorted().joined(separator: ", "))")
        }
        return value
    }
}
