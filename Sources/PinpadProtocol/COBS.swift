/// Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999), the byte stuffing of protocol v1
/// (`protocol/PROTOCOL.md` §3.2). The encoded form contains no `0x00`, so `0x00` can delimit
/// frames and a receiver resynchronises at the next delimiter whatever noise came before.
public enum COBS {
    /// Largest encoded size for `count` input bytes: one code byte per started run of 254 bytes,
    /// and at least one.
    public static func maxEncodedLength(_ count: Int) -> Int {
        count + count / 254 + 1
    }

    /// Appends the COBS encoding of `input` to `output` (no delimiter).
    public static func encode<C: Collection>(_ input: C, into output: inout [UInt8]) where C.Element == UInt8 {
        var codeIndex = output.count
        output.append(0)  // placeholder for the first code byte
        var code: UInt8 = 1
        for byte in input {
            if byte != 0 {
                output.append(byte)
                code += 1
            }
            if byte == 0 || code == 0xFF {
                output[codeIndex] = code
                codeIndex = output.count
                output.append(0)
                code = 1
            }
        }
        output[codeIndex] = code
    }

    /// Decodes one COBS block (without its delimiter) into `output`. Returns false when the
    /// block is not valid COBS: a `0x00` inside it, or a code byte that runs past its end.
    public static func decode<C: Collection>(_ input: C, into output: inout [UInt8]) -> Bool where C.Element == UInt8 {
        var index = input.startIndex
        while index != input.endIndex {
            let code = input[index]
            if code == 0 { return false }
            index = input.index(after: index)
            var remaining = Int(code) - 1
            while remaining > 0 {
                if index == input.endIndex { return false }
                let byte = input[index]
                if byte == 0 { return false }
                output.append(byte)
                index = input.index(after: index)
                remaining -= 1
            }
            if code != 0xFF && index != input.endIndex {
                output.append(0)
            }
        }
        return true
    }
}
