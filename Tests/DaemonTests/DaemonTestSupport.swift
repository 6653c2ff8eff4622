import Common
import Foundation
import Logging
import ServiceLifecycle
@testable import Bridge

/// A scratch directory per test, removed at the end. Short, under /tmp: unix socket paths must
/// stay under 108 bytes.
final class ScratchDirectory: Sendable {
    let path: String

    init() throws {
        path = "/tmp/ngbd-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String, mode: Int? = nil) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        if let mode { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file) }
        return file
    }
}

/// Every log line of a run, for checking what reached the log (personal data must not).
final class CapturedLog: Sendable {
    // Lines come from the daemon's threads (Locked: the thread sanitizer sees its lock).
    private let lines = Locked<[String]>([])

    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined(separator: "\n") }

    func logger(_ label: String = "ngbridge.test") -> Logger {
        var logger = Logger(label: label) { label in CapturingHandler(label: label, sink: self) }
        logger.logLevel = .trace
        return logger
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct CapturingHandler: LogHandler {
        let label: String
        let sink: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.append("\(event.level) \(label): \(event.message) \(pairs)")
        }
    }
}

/// A till API on a unix socket (or loopback TCP) in this process, with a payment service of the
/// test's choosing, and a client for it.
final class RunningTillAPI: Sendable {
    let client: TillAPIClient
    let address: DaemonConfiguration.ListenAddress
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(client: TillAPIClient, address: DaemonConfiguration.ListenAddress, group: ServiceGroup, task: Task<Void, any Error>) {
        self.client = client
        self.address = address
        self.group = group
        self.task = task
    }

    static func start(
        service: any PaymentService, scratch: ScratchDirectory, log: CapturedLog = CapturedLog(),
        listen: DaemonConfiguration.ListenAddress? = nil, token: String? = nil, clientToken: String? = nil,
        logger: Logger? = nil, metrics: TillAPIMetrics = TillAPIMetrics(), configure: (inout TillAPIServer.Options) -> Void = { _ in }
    ) async throws -> RunningTillAPI {
        var options = TillAPIServer.Options(listen: listen ?? .unix(path: scratch.path + "/api.sock"), token: token)
        configure(&options)
        let (bound, boundContinuation) = AsyncStream.makeStream(of: DaemonConfiguration.ListenAddress.self)
        let server = TillAPIServer(options: options, service: service, metrics: metrics, logger: logger ?? log.logger("ngbridge.api"))
        let app = server.application { address in boundContinuation.yield(address); boundContinuation.finish() }
        let group = ServiceGroup(configuration: .init(services: [app], logger: log.logger("ngbridge.lifecycle")))
        let task = Task { try await group.run() }
        var iterator = bound.makeAsyncIterator()
        guard let address = await iterator.next() else {
            _ = try await task.value
            throw CancellationError()
        }
        let client = TillAPIClient(address: address, token: clientToken ?? token)
        return RunningTillAPI(client: client, address: address, group: group, task: task)
    }

    func stop() async throws {
        await client.shutdown()
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

extension Data {
    var text: String { String(decoding: self, as: UTF8.self) }
}
