/// Sizes and fixed values of protocol v1 (`protocol/PROTOCOL.md` §3).
public enum ProtocolLimits {
    /// The frame-format version carried in every header.
    public static let version: UInt8 = 1
    /// version, type, flags, sequence, payload length (u16 LE).
    public static let headerLength = 6
    public static let crcLength = 4
    /// Largest payload of protocol v1. A pad may announce a smaller one in HELLO_REPLY.
    public static let maxPayload = 246
    /// Largest decoded frame: header + payload + CRC.
    public static let maxFrameLength = headerLength + maxPayload + crcLength  // 256
    /// Largest COBS-encoded frame, without delimiters.
    public static let maxEncodedLength = COBS.maxEncodedLength(maxFrameLength)  // 258
}

/// Header flags (`PROTOCOL.md` §3.3). Unknown bits are sent as 0 and ignored on receipt.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// This data frame is a retransmission of one sent before (informational: receivers rely on
    /// the sequence number, never on this flag).
    public static let retransmission = FrameFlags(rawValue: 0x01)
}

/// One frame as it travels between host and pad, before COBS stuffing.
public struct Frame: Sendable, Hashable {
    public var type: UInt8
    public var flags: FrameFlags
    public var sequence: UInt8
    public var payload: [UInt8]

    public init(type: UInt8, flags: FrameFlags = [], sequence: UInt8 = 0, payload: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.payload = payload
    }

    /// The decoded frame: header, payload and CRC-32C (little-endian) over header and payload.
    public func body() -> [UInt8] {
        let count = payload.count
        let crcStart = ProtocolLimits.headerLength + count
        return [UInt8](unsafeUninitializedCapacity: crcStart + ProtocolLimits.crcLength) { out, initialized in
            out[0] = ProtocolLimits.version
            out[1] = type
            out[2] = flags.rawValue
            out[3] = sequence
            out[4] = UInt8(truncatingIfNeeded: count)
            out[5] = UInt8(truncatingIfNeeded: count >> 8)
            for i in 0..<count { out[ProtocolLimits.headerLength + i] = payload[i] }
            var crc = CRC32C()
            for i in 0..<crcStart { crc.update(out[i]) }
            let value = crc.value
            out[crcStart] = UInt8(truncatingIfNeeded: value)
            out[crcStart + 1] = UInt8(truncatingIfNeeded: value >> 8)
            out[crcStart + 2] = UInt8(truncatingIfNeeded: value >> 16)
            out[crcStart + 3] = UInt8(truncatingIfNeeded: value >> 24)
            initialized = crcStart + ProtocolLimits.crcLength
        }
    }

    /// The bytes to write on the line: `0x00`, COBS(body), `0x00`.
    ///
    /// The leading delimiter ends any partial frame the receiver may hold from noise, so the
    /// frame that follows is never glued to garbage.
    public func encoded() -> [UInt8] {
        precondition(payload.count <= ProtocolLimits.maxPayload, "payload larger than the protocol allows")
        let raw = body()
        var out: [UInt8] = []
        out.reserveCapacity(COBS.maxEncodedLength(raw.count) + 2)
        out.append(0)
        COBS.encode(raw, into: &out)
        out.append(0)
        return out
    }

    /// Parses a decoded (unstuffed) frame body, checking length and CRC.
    public static func parse(body: [UInt8]) throws(FrameError) -> Frame {
        let minimum = ProtocolLimits.headerLength + ProtocolLimits.crcLength
        guard body.count >= minimum else { throw .tooShort(length: body.count) }
        let declared = Int(body[4]) | (Int(body[5]) << 8)
        let actual = body.count - minimum
        guard declared == actual else { throw .lengthMismatch(declared: declared, actual: actual) }
        let crcStart = body.count - ProtocolLimits.crcLength
        let received = UInt32(body[crcStart]) | (UInt32(body[crcStart + 1]) << 8)
            | (UInt32(body[crcStart + 2]) << 16) | (UInt32(body[crcStart + 3]) << 24)
        let computed = CRC32C.checksum(body[0..<crcStart])
        guard received == computed else { throw .badCRC(received: received, computed: computed) }
        guard body[0] == ProtocolLimits.version else { throw .unsupportedVersion(body[0]) }
        guard declared <= ProtocolLimits.maxPayload else { throw .oversized(length: body.count) }
        return Frame(
            type: body[1], flags: FrameFlags(rawValue: body[2]), sequence: body[3],
            payload: Array(body[ProtocolLimits.headerLength..<crcStart]))
    }
}

/// Why a run of bytes between two delimiters is not a frame (`PROTOCOL.md` §3.5).
public enum FrameError: Error, Sendable, Hashable {
    /// More bytes than the largest encoded frame arrived without a delimiter; the rest up to
    /// the next `0x00` is discarded.
    case oversized(length: Int)
    /// A COBS code byte points past the end of the block.
    case invalidStuffing
    /// Fewer bytes than header + CRC.
    case tooShort(length: Int)
    /// The header's payload length disagrees with the bytes received.
    case lengthMismatch(declared: Int, actual: Int)
    /// The CRC-32C in the frame is not the CRC-32C of its header and payload.
    case badCRC(received: UInt32, computed: UInt32)
    /// The version byte is not 1.
    case unsupportedVersion(UInt8)
    /// A frame was started but the line went quiet for longer than the inter-byte timeout.
    case interByteTimeout(length: Int)
}

/// Streaming frame decoder: feed bytes in any chunking, get frames or typed errors.
///
/// Memory is bounded by `ProtocolLimits.maxEncodedLength` whatever the input. Empty blocks
/// (two delimiters in a row) are skipped silently: they are how frames are separated.
public struct FrameDecoder: Sendable {
    public enum Output: Sendable, Hashable {
        case frame(Frame)
        case error(FrameError)
    }

    private var buffer: [UInt8] = []
    private var discarding = false
    private var discardedCount = 0

    public init() {
        buffer.reserveCapacity(ProtocolLimits.maxEncodedLength)
    }

    /// True while bytes of an unfinished frame are held (the inter-byte timer runs).
    public var isInsideFrame: Bool { !buffer.isEmpty || discarding }

    /// Feeds one byte; returns a result when this byte was a delimiter that ended a non-empty block.
    public mutating func feed(_ byte: UInt8) -> Output? {
        if byte == 0 {
            if discarding {
                discarding = false
                let length = discardedCount
                discardedCount = 0
                return .error(.oversized(length: length))
            }
            if buffer.isEmpty { return nil }
            defer { buffer.removeAll(keepingCapacity: true) }
            return Self.decodeBlock(buffer)
        }
        if discarding {
            discardedCount += 1
            return nil
        }
        if buffer.count == ProtocolLimits.maxEncodedLength {
            discarding = true
            discardedCount = buffer.count + 1
            buffer.removeAll(keepingCapacity: true)
            return nil
        }
        buffer.append(byte)
        return nil
    }

    /// Feeds a chunk of bytes; returns every result it completed, in order.
    public mutating func feed<C: Collection>(_ bytes: C) -> [Output] where C.Element == UInt8 {
        var results: [Output] = []
        for byte in bytes {
            if let result = feed(byte) { results.append(result) }
        }
        return results
    }

    /// Feeds a chunk of bytes (as read from a line); returns every result it completed, in order.
    /// The concrete form of `feed(_:)` for callers in other modules, which cannot specialise the
    /// generic one and would pay for it per byte.
    public mutating func feed(_ bytes: [UInt8]) -> [Output] {
        bytes.withUnsafeBufferPointer { feed(contiguous: $0) }
    }

    /// Feeds a slice of a read buffer; see `feed(_: [UInt8])`.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [Output] {
        bytes.withUnsafeBufferPointer { feed(contiguous: $0) }
    }

    private mutating func feed(contiguous bytes: UnsafeBufferPointer<UInt8>) -> [Output] {
        var results: [Output] = []
        for byte in bytes {
            if let result = feed(byte) { results.append(result) }
        }
        return results
    }

    /// Drops a partial frame (inter-byte timeout). Returns the error to report, if a frame was open.
    public mutating func abandonPartialFrame() -> FrameError? {
        guard isInsideFrame else { return nil }
        let length = discarding ? discardedCount : buffer.count
        buffer.removeAll(keepingCapacity: true)
        discarding = false
        discardedCount = 0
        return .interByteTimeout(length: length)
    }

    static func decodeBlock(_ block: [UInt8]) -> Output {
        var body: [UInt8] = []
        body.reserveCapacity(block.count)
        guard COBS.decode(block, into: &body) else { return .error(.invalidStuffing) }
        do {
            return .frame(try Frame.parse(body: body))
        } catch {
            return .error(error)
        }
    }
}
