/// CRC-32C (Castagnoli), the frame check of protocol v1 (`protocol/PROTOCOL.md` §3.4).
///
/// Parameters (Rocksoft/Williams model, as in the CRC catalogue): width 32, poly `0x1EDC6F41`
/// (reflected form `0x82F63B78`), init `0xFFFFFFFF`, refin true, refout true, xorout `0xFFFFFFFF`,
/// check (CRC of the ASCII bytes "123456789") `0xE3069283`.
///
/// A nibble table (16 words, 64 bytes of flash) keeps it small enough for the pad's MCU while
/// doing two table steps per byte instead of eight shift steps.
public struct CRC32C: Sendable {
    public private(set) var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    @inline(__always)
    public mutating func update(_ byte: UInt8) {
        var c = state ^ UInt32(byte)
        c = (c >> 4) ^ CRC32C.nibbleTable[Int(c & 0x0F)]
        c = (c >> 4) ^ CRC32C.nibbleTable[Int(c & 0x0F)]
        state = c
    }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        for b in bytes { update(b) }
    }

    /// The finished checksum (state XOR `0xFFFFFFFF`). Updating may continue afterwards.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    static let nibbleTable: [UInt32] = [
        0x0000_0000, 0x105E_C76F, 0x20BD_8EDE, 0x30E3_49B1, 0x417B_1DBC, 0x5125_DAD3, 0x61C6_9362, 0x7198_540D,
        0x82F6_3B78, 0x92A8_FC17, 0xA24B_B5A6, 0xB215_72C9, 0xC38D_26C4, 0xD3D3_E1AB, 0xE330_A81A, 0xF36E_6F75,
    ]
}
