import Foundation
import SerialLine

/// The emulated pad's keypad and display: the host end of the firmware's debug channel (UART1,
/// protocol in `firmware/README.md`). A test fixture, not part of the pad's protocol.
///
/// The screen can hold a customer's entry in clear: callers must not log what `screen()`
/// returns.
public actor PinpadQEMUConsole {
    /// The pad's state as the `I` command reports it.
    public struct State: Sendable, Equatable {
        public var linkUp: Bool
        /// The open prompt's id, 0 when none is open.
        public var prompt: UInt8
        public var token: UInt16
        /// Digits entered so far in the open prompt.
        public var entryLength: Int
        /// The light, as INDICATE numbers it.
        public var light: UInt8
        /// Beeps since reset.
        public var beeps: Int
        /// Milliseconds since reset.
        public var uptime: UInt64
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Guard against a pad that stopped answering; QEMU's first delivery can take ~1.1 s.
    public static let answerTimeout: Duration = .seconds(10)

    private let port: SerialPort
    private var pending: [UInt8] = []
    private var lines: [String] = []
    private var unsolicited: [String] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var ended = false
    private var reader: Task<Void, Never>?

    private init(port: SerialPort) {
        self.port = port
    }

    /// Opens the debug channel's pty and starts reading it.
    static func open(_ path: String) async throws -> PinpadQEMUConsole {
        let console = PinpadQEMUConsole(
            port: try SerialPort.open(path, configuration: SerialConfiguration(exclusive: true, raiseModemLines: false)))
        await console.startReading()
        return console
    }

    private func startReading() {
        let events = port.events
        // Unstructured: reads the channel for as long as the console is open; close() cancels it.
        reader = Task { [weak self] in
            for await event in events {
                guard case .received(let bytes) = event else { continue }
                await self?.receive(bytes)
            }
            await self?.lineEnded()
        }
    }

    /// Unsolicited lines so far (`!ready …`, `!fault …`), without the `!`.
    public var notices: [String] { unsolicited }

    /// Presses keys in order: `0`–`9`, `C` Clear, `O` OK, `X` Cancel. Returns once the firmware
    /// has taken every key.
    public func press(_ keys: String) async throws {
        _ = try await command("K" + keys)
    }

    /// The display's rows, each exactly as wide as the display.
    public func screen() async throws -> [String] {
        try await command("S").map { String($0.dropFirst()) }
    }

    public func state() async throws -> State {
        guard let line = try await command("I").first(where: { $0.hasPrefix("I ") }) else {
            throw Failure(description: "the emulated pad answered I without its state line")
        }
        let fields = Self.fields(line)
        return State(
            linkUp: fields["link"] == "up", prompt: UInt8(fields["prompt"] ?? "") ?? 0,
            token: UInt16(fields["token"] ?? "") ?? 0, entryLength: Int(fields["entry"] ?? "") ?? 0,
            light: UInt8(fields["light"] ?? "") ?? 0, beeps: Int(fields["beeps"] ?? "") ?? 0,
            uptime: UInt64(fields["ms"] ?? "") ?? 0)
    }

    /// Heap and stack use in bytes: `heap`, `used`, `peak`, `stack`, `stackpeak`.
    public func memory() async throws -> [String: Int] {
        guard let line = try await command("M").first(where: { $0.hasPrefix("M ") }) else {
            throw Failure(description: "the emulated pad answered M without its memory line")
        }
        return Self.fields(line).compactMapValues { Int($0) }
    }

    /// Sends one command line and returns its data lines; throws on `ERR`, on a fault, or when
    /// no answer comes within `answerTimeout`.
    public func command(_ text: String) async throws -> [String] {
        lines.removeAll()
        do {
            try await port.write(Array((text + "\n").utf8))
        } catch {
            throw Failure(description: "cannot write to the emulated pad's debug channel: \(error)")
        }
        let deadline = ContinuousClock.now + Self.answerTimeout
        // Wakes the wait below at the deadline; cancelled when this call returns or throws.
        async let _ = wake(at: deadline)
        while true {
            if let end = lines.firstIndex(where: { $0 == "OK" || $0.hasPrefix("ERR") }) {
                let answer = Array(lines[..<end])
                let status = lines[end]
                lines.removeSubrange(...end)
                if status != "OK" {
                    throw Failure(description: "the emulated pad refused \(text.prefix(1)): \(status)")
                }
                return answer
            }
            if let fault = unsolicited.first(where: { $0.hasPrefix("fault") }) {
                throw Failure(description: "the emulated pad's firmware stopped: \(fault)")
            }
            if ended {
                throw Failure(description: "the emulated pad's debug channel closed (QEMU stopped?)")
            }
            if ContinuousClock.now >= deadline {
                throw Failure(description: "the emulated pad did not answer \(text.prefix(1)) within \(Self.answerTimeout)")
            }
            await withCheckedContinuation { waiter = $0 }
        }
    }

    private func wake(at deadline: ContinuousClock.Instant) async {
        try? await Task.sleep(until: deadline)
        wake()
    }

    func close() async {
        await port.close()
        reader?.cancel()
        lineEnded()
    }

    private func receive(_ bytes: [UInt8]) {
        pending += bytes
        while let newline = pending.firstIndex(of: 0x0A) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty { continue }
            if line.hasPrefix("!") {
                unsolicited.append(String(line.dropFirst()))
            } else {
                lines.append(line)
            }
        }
        wake()
    }

    private func lineEnded() {
        ended = true
        wake()
    }

    private func wake() {
        waiter?.resume()
        waiter = nil
    }

    private static func fields(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in line.split(separator: " ").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { out[String(pair[0])] = String(pair[1]) }
        }
        return out
    }
}
