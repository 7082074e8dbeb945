import CZlib
import NIOCore

/// A piece of a gzip body compressed on its own: raw deflate data ending on a full flush (byte
/// aligned, nothing after it refers back into it), with the CRC-32 and length of its text. Pieces
/// compressed at different times can follow each other in one gzip stream, so `/metrics` keeps its
/// per-certificate text compressed per shard and compresses only what changed, never the whole
/// body per scrape (Prometheus asks for gzip: 73 MB of text at 100k certificates is a few MB).
struct DeflateSegment: Sendable {
    let bytes: ByteBuffer
    let crc: UInt
    let length: Int

    static let empty = DeflateSegment(bytes: ByteBuffer(), crc: 0, length: 0)

    private init(bytes: ByteBuffer, crc: UInt, length: Int) {
        self.bytes = bytes
        self.crc = crc
        self.length = length
    }

    /// TEXT compressed (level 1: the text is repetitive, and a full load compresses every shard).
    init(_ text: ByteBuffer) {
        guard text.readableBytes > 0 else {
            self = .empty
            return
        }
        let input = Array(text.readableBytesView)
        var stream = z_stream()
        // -15: raw deflate (the gzip header and trailer are written around all the segments).
        guard deflateInit2_(&stream, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { fatalError("zlib: deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 16)
        var produced = 0
        input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = uInt(source.count)
            while true {
                if produced == output.count { output += [UInt8](repeating: 0, count: output.count) }
                output.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress! + produced
                    stream.avail_out = uInt(target.count - produced)
                    _ = deflate(&stream, Z_FULL_FLUSH)
                    produced = target.count - Int(stream.avail_out)
                }
                if stream.avail_in == 0 && stream.avail_out > 0 { break }
            }
        }
        let crc = input.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        self.init(bytes: ByteBuffer(bytes: output[..<produced]), crc: crc, length: input.count)
    }

    /// SEGMENTS one after the other, as one segment.
    static func joined(_ segments: [DeflateSegment]) -> DeflateSegment {
        var bytes = ByteBuffer()
        bytes.reserveCapacity(segments.reduce(0) { $0 + $1.bytes.readableBytes })
        var crc: UInt = 0, length = 0
        for segment in segments where segment.length > 0 {
            var part = segment.bytes
            bytes.writeBuffer(&part)
            crc = crc32_combine(crc, segment.crc, off_t(segment.length))
            length += segment.length
        }
        return DeflateSegment(bytes: bytes, crc: crc, length: length)
    }

    /// A gzip body (RFC 1952) of SEGMENTS: header, the segments, an empty final block, trailer.
    static func gzip(_ segments: [DeflateSegment]) -> [ByteBuffer] {
        // ID1 ID2, deflate, no flags, no mtime, no extra flags, OS unknown.
        var out = [ByteBuffer(bytes: [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])]
        var crc: UInt = 0, length = 0
        for segment in segments where segment.length > 0 {
            out.append(segment.bytes)
            crc = crc32_combine(crc, segment.crc, off_t(segment.length))
            length += segment.length
        }
        var trailer = ByteBuffer(bytes: [0x03, 0x00]) // a final fixed-Huffman block holding only its end
        trailer.writeInteger(UInt32(truncatingIfNeeded: crc), endianness: .little)
        trailer.writeInteger(UInt32(truncatingIfNeeded: length), endianness: .little)
        out.append(trailer)
        return out
    }
}
