/// Little-endian payload writing and reading (`PROTOCOL.md` §2: every integer is little-endian).
struct PayloadWriter {
    var bytes: [UInt8] = []

    @inline(never) mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(never) mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }
    @inline(never) mutating func u32(_ v: UInt32) {
        u16(UInt16(truncatingIfNeeded: v))
        u16(UInt16(truncatingIfNeeded: v >> 16))
    }
    /// A string field: u8 byte count, then that many bytes (UTF-8). Callers keep it ≤ 255.
    @inline(never) mutating func shortBytes(_ v: [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: v.count))
        bytes.append(contentsOf: v.prefix(255))
    }
    @inline(never) mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
}

struct PayloadReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    @inline(never) mutating func u8() throws(MessageError) -> UInt8 {
        guard index < bytes.count else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }
    @inline(never) mutating func u16() throws(MessageError) -> UInt16 {
        let lo = try u8()
        let hi = try u8()
        return UInt16(lo) | (UInt16(hi) << 8)
    }
    @inline(never) mutating func u32() throws(MessageError) -> UInt32 {
        let lo = try u16()
        let hi = try u16()
        return UInt32(lo) | (UInt32(hi) << 16)
    }
    @inline(never) mutating func shortBytes() throws(MessageError) -> [UInt8] {
        let count = Int(try u8())
        guard bytes.count - index >= count else { throw .truncated }
        defer { index += count }
        return Array(bytes[index..<(index + count)])
    }
    @inline(never) mutating func rest() -> [UInt8] {
        defer { index = bytes.count }
        return Array(bytes[index...])
    }
    /// v1 receivers ignore bytes after the fields they know (§4.1: extensions append fields).
    func finish() {}
}

extension Array where Element == UInt8 {
    /// True when every byte is an ASCII digit `0`–`9`.
    var isASCIIDigits: Bool {
        for b in self where b < 0x30 || b > 0x39 { return false }
        return true
    }
}
