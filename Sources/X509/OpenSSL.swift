import COpenSSL
import COpenSSLShim

/// Internal bridge helpers: OpenSSL's error queue, memory BIOs, handles.
/// Nothing here is public; pointers never leave the module.
enum OpenSSL {
    /// Drains the thread's OpenSSL error queue into one line. Always called
    /// after a failure so stale errors never attach to a later operation.
    static func drainErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            if messages.count < 4 {
                messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return messages.isEmpty ? "unknown error" : messages.joined(separator: "; ")
    }

    /// A `cryptoFailure` carrying OpenSSL's queued errors.
    static func failure(_ context: String) -> X509Error {
        .cryptoFailure("\(context): \(drainErrors())")
    }

    /// Runs `body` with a read-only memory BIO over `bytes`.
    static func withReadBIO<R>(
        _ bytes: [UInt8], _ body: (OpaquePointer) throws(X509Error) -> R
    ) throws(X509Error) -> R {
        let result: Result<R, X509Error> = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                return .failure(failure("BIO_new_mem_buf"))
            }
            defer { BIO_free(bio) }
            do throws(X509Error) { return .success(try body(bio)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Runs `body` with a fresh memory BIO and returns what it wrote, or nil
    /// when `body` reports failure (returns <= 0).
    static func writeBIO(_ body: (OpaquePointer) -> Int32) -> [UInt8]? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard body(bio) > 0 else { return nil }
        var data: UnsafePointer<CChar>? = nil
        let length = cf_bio_get_mem_data(bio, &data)
        guard let data, length > 0 else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// DER encoding through an `i2d_*` function (called twice: size, then bytes).
    static func der(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
        let length = encode(nil)
        guard length > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return encode(&cursor)
        }
        return written == length ? bytes : nil
    }

    /// Big-endian bytes of a BIGNUM, left-padded with zeros to `width` when given.
    static func bytes(of bn: OpaquePointer, width: Int? = nil) -> [UInt8] {
        let natural = Int((BN_num_bits(bn) + 7) / 8)
        let count = max(width ?? natural, natural)
        var out = [UInt8](repeating: 0, count: count)
        _ = out.withUnsafeMutableBufferPointer { BN_bn2binpad(bn, $0.baseAddress, Int32(count)) }
        return out
    }
}

/// Owns an `X509*`.
final class X509Handle: @unchecked Sendable {
    // Sendable because the certificate is never mutated after parsing;
    // OpenSSL 3 guards its lazily computed extension cache with a lock.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
}

/// Owns an `EVP_PKEY*`.
final class PKeyHandle: @unchecked Sendable {
    // Sendable because keys are immutable after creation; OpenSSL 3 allows
    // concurrent signing with one EVP_PKEY as long as each call has its own context.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }
}
