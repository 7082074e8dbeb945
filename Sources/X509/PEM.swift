/// One `-----BEGIN …-----` … `-----END …-----` block of PEM text.
struct PEMBlock: Sendable {
    /// 0-based position among all blocks of the input (the `pem_invalid` index).
    let index: Int
    /// The label between `BEGIN ` and `-----`, e.g. `CERTIFICATE`.
    let label: String
    /// The block's own text, BEGIN and END lines included, for OpenSSL's PEM readers.
    let text: [UInt8]
    /// The decoded body; nil when the block has RFC 1421 headers (legacy
    /// encrypted keys), which only OpenSSL's reader understands.
    let der: [UInt8]?
}

/// Caps applied before any parsing, so hostile input costs bounded work.
public struct InputLimits: Sendable, Hashable {
    /// Maximum input size in bytes.
    public var maxBytes: Int
    /// Maximum number of PEM blocks of any kind.
    public var maxBlocks: Int
    /// Maximum number of certificates.
    public var maxCertificates: Int

    /// Defaults sized for a leaf, a few intermediates, a root and a key.
    public static let `default` = InputLimits(maxBytes: 256 * 1024, maxBlocks: 32, maxCertificates: 16)
    /// Defaults for a client-CA list, which may hold many roots.
    public static let clientCA = InputLimits(maxBytes: 1024 * 1024, maxBlocks: 256, maxCertificates: 256)

    public init(maxBytes: Int, maxBlocks: Int, maxCertificates: Int) {
        self.maxBytes = maxBytes
        self.maxBlocks = maxBlocks
        self.maxCertificates = maxCertificates
    }
}

/// PEM text: splitting into blocks and encoding DER.
public enum PEM {
    /// Encodes DER bytes as a PEM block with 64-character lines and `\n` endings.
    public static func encode(label: String, der: [UInt8]) -> String {
        let body = Base64.encode(der)
        var out = "-----BEGIN \(label)-----\n"
        out.reserveCapacity(body.count + body.count / 64 + 2 * label.count + 40)
        var line = Substring(body)
        while !line.isEmpty {
            out += line.prefix(64)
            out += "\n"
            line = line.dropFirst(64)
        }
        return out + "-----END \(label)-----\n"
    }

    /// Splits input into blocks. Text outside blocks is ignored (tools put
    /// `subject=…` or `Bag Attributes` lines there); everything inside a
    /// block must be well-formed.
    static func blocks(in input: [UInt8], limits: InputLimits) throws(X509Error) -> [PEMBlock] {
        guard input.count <= limits.maxBytes else {
            throw .tooLarge(what: "input size in bytes", size: input.count, limit: limits.maxBytes)
        }
        var blocks: [PEMBlock] = []
        var open: (label: String, start: Int, body: [UInt8], hasHeaders: Bool, lastLineShort: Bool)? = nil
        var lineStart = 0
        var sawNonWhitespace = false

        func fail(_ reason: String) -> X509Error { .pemInvalid(block: blocks.count, reason: reason) }

        while lineStart < input.count {
            var lineEnd = lineStart
            while lineEnd < input.count && input[lineEnd] != 0x0A { lineEnd += 1 }
            let next = lineEnd + 1
            // Trim trailing CR/space/tab so CRLF uploads and editor whitespace pass.
            var end = lineEnd
            while end > lineStart, input[end - 1] == 0x0D || input[end - 1] == 0x20 || input[end - 1] == 0x09 { end -= 1 }
            var start = lineStart
            while start < end, input[start] == 0x20 || input[start] == 0x09 { start += 1 }
            let line = input[start..<end]
            defer { lineStart = next }

            if var current = open {
                if let label = Self.marker(line, "-----END ") {
                    guard label == current.label else {
                        throw fail("BEGIN \(current.label) is closed by END \(label)")
                    }
                    guard !current.body.isEmpty || current.hasHeaders else { throw fail("the block is empty") }
                    var der: [UInt8]? = nil
                    if !current.hasHeaders {
                        guard let decoded = Base64.decode(current.body), !decoded.isEmpty else {
                            throw fail("the base64 body is malformed")
                        }
                        der = decoded
                    }
                    let text = Array(input[current.start..<min(next, input.count)])
                    blocks.append(PEMBlock(index: blocks.count, label: label, text: text, der: der))
                    open = nil
                    continue
                }
                if Self.marker(line, "-----BEGIN ") != nil {
                    throw fail("the END line of the block is missing")
                }
                if line.isEmpty { continue }
                if line.contains(0x3A) { // ':' — RFC 1421 header such as Proc-Type
                    guard current.body.isEmpty else { throw fail("a header line follows base64 data") }
                    current.hasHeaders = true
                    open = current
                    continue
                }
                guard line.allSatisfy(Base64.isAlphabet) else {
                    throw fail("the body has characters that are not base64")
                }
                guard !current.lastLineShort else { throw fail("base64 data follows padding or a short line") }
                current.body.append(contentsOf: line)
                // Tools wrap at 64 (or 76) characters; a short line must be the last.
                current.lastLineShort = line.contains(0x3D) || line.count % 4 != 0
                open = current
                continue
            }

            if let label = Self.marker(line, "-----BEGIN ") {
                guard blocks.count < limits.maxBlocks else {
                    throw .tooLarge(what: "number of PEM blocks", size: blocks.count + 1, limit: limits.maxBlocks)
                }
                guard !label.isEmpty, label.utf8.count <= 64 else { throw fail("the BEGIN line has no usable label") }
                open = (label, lineStart, [], false, false)
                sawNonWhitespace = true
            } else if Self.marker(line, "-----END ") != nil {
                throw fail("an END line has no matching BEGIN line")
            } else if !line.isEmpty {
                sawNonWhitespace = true
            }
        }
        if open != nil { throw fail("the input ends inside the block (truncated; the END line is missing)") }
        if blocks.isEmpty && sawNonWhitespace {
            throw X509Error.pemInvalid(
                block: 0,
                reason: "no PEM block found (DER or other binary input is not accepted; convert it with `openssl x509 -inform der`)")
        }
        return blocks
    }

    /// The label of a `-----BEGIN LABEL-----` / `-----END LABEL-----` line, or nil.
    private static func marker(_ line: ArraySlice<UInt8>, _ prefix: StaticString) -> String? {
        let prefixBytes = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        guard line.count >= prefixBytes.count + 5, line.starts(with: prefixBytes) else { return nil }
        let tail = line.suffix(5)
        guard tail.allSatisfy({ $0 == 0x2D }) else { return nil }
        let labelBytes = line.dropFirst(prefixBytes.count).dropLast(5)
        // Labels are printable ASCII; anything else makes it not a marker line.
        guard labelBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: labelBytes, as: UTF8.self)
    }
}

/// Standard base64 (RFC 4648 section 4), strict: used inside PEM bodies.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func isAlphabet(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2B || byte == 0x2F || byte == 0x3D
    }

    static func encode(_ bytes: [UInt8], alphabet: [UInt8] = alphabet, pad: Bool = true) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
            if pad { out.append(contentsOf: rest == 2 ? [0x3D] : [0x3D, 0x3D]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes; nil on any character outside the alphabet, misplaced padding
    /// or non-zero trailing bits. `urlSafe` switches to the `-_` alphabet
    /// without padding.
    static func decode<C: Collection>(_ input: C, urlSafe: Bool = false) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3 + 3)
        var accumulator: UInt32 = 0
        var count = 0
        var padding = 0
        for byte in input {
            let value: UInt32
            switch byte {
            case 0x41...0x5A: value = UInt32(byte - 0x41)
            case 0x61...0x7A: value = UInt32(byte - 0x61 + 26)
            case 0x30...0x39: value = UInt32(byte - 0x30 + 52)
            case 0x2B where !urlSafe, 0x2D where urlSafe: value = 62
            case 0x2F where !urlSafe, 0x5F where urlSafe: value = 63
            case 0x3D where !urlSafe:
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil } // data after '='
            accumulator = accumulator << 6 | value
            count += 1
            if count == 4 {
                out.append(UInt8(accumulator >> 16 & 0xFF))
                out.append(UInt8(accumulator >> 8 & 0xFF))
                out.append(UInt8(accumulator & 0xFF))
                accumulator = 0
                count = 0
            }
        }
        switch count {
        case 0:
            guard padding == 0 else { return nil }
        case 2:
            guard accumulator & 0xF == 0, urlSafe ? padding == 0 : padding == 2 else { return nil }
            out.append(UInt8(accumulator >> 4 & 0xFF))
        case 3:
            guard accumulator & 0x3 == 0, urlSafe ? padding == 0 : padding == 1 else { return nil }
            out.append(UInt8(accumulator >> 10 & 0xFF))
            out.append(UInt8(accumulator >> 2 & 0xFF))
        default:
            return nil
        }
        return out
    }
}
