import Foundation
import XCTest

@testable import SerialLine

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`. The limit is a guard
/// against hangs, not a performance assertion: keep it generous.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimedOut(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A fresh directory for links, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("serialline-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Collects `count` bytes from a line's events, or fails if the line ends first.
func collect(_ count: Int, from events: AsyncStream<SerialPort.Event>) async throws -> [UInt8] {
    var received: [UInt8] = []
    received.reserveCapacity(count)
    for await event in events {
        switch event {
        case .received(let chunk): received += chunk
        case .deviceGone(let error): throw error
        }
        if received.count >= count { break }
    }
    return received
}

/// Reads exactly `count` bytes from a blocking descriptor, pausing now and then to play a
/// slow reader.
func readSlowly(_ fd: FileDescriptor, count: Int) throws -> [UInt8] {
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while received.count < count {
        let n = try chunk.withUnsafeMutableBytes { raw in try fd.read(into: raw) }
        if n == 0 { break }
        received += chunk[0..<n]
        usleep(200)
    }
    return received
}

extension Array where Element == UInt8 {
    /// A recognisable, non-repeating-looking byte pattern.
    static func pattern(count: Int, seed: UInt32) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
