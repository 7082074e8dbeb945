import CertFleetCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// HAProxy's runtime API over its stats socket (HAProxy 2.2+): `set ssl cert <crt> <<` with
/// the chain and key, then `commit ssl cert <crt>`; the certificate changes for new
/// handshakes with no reload. Any refusal aborts the transaction (`abort ssl cert`), so
/// HAProxy keeps serving what it had.
struct HAProxyDeliverer: Deliverer {
    /// The stats socket (`stats socket <path> level admin`).
    let socket: String
    /// The certificate file as HAProxy knows it (`bind … crt <path>`); `{name}` is the certificate's name.
    let certificatePath: String

    func deliver(_ bundle: DeliveryBundle) async throws -> String {
        let crt = certificatePath.replacingOccurrences(of: "{name}", with: bundle.certificateName)
        // The payload ends at the first empty line: PEM without blank lines, then one.
        let payload = (bundle.fullchainPEM + bundle.keyPEM).split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "\n")
        let set = try await Self.send("set ssl cert \(crt) <<\n\(payload)\n\n", to: socket)
        guard set.contains("Transaction created") || set.contains("Transaction updated") else {
            _ = try? await Self.send("abort ssl cert \(crt)\n", to: socket)
            throw DeliveryFailure(.targetRefused, "haproxy refused the certificate for \(crt): \(Self.firstLines(set))")
        }
        let commit = try await Self.send("commit ssl cert \(crt)\n", to: socket)
        guard commit.contains("Success!") else {
            _ = try? await Self.send("abort ssl cert \(crt)\n", to: socket)
            throw DeliveryFailure(.targetRefused, "haproxy did not commit \(crt): \(Self.firstLines(commit))")
        }
        return "committed \(crt)"
    }

    static func firstLines(_ text: String) -> String {
        text.split(separator: "\n").prefix(3).joined(separator: " | ")
    }

    /// One command on one connection (HAProxy's non-interactive mode answers and closes).
    /// Blocking socket calls run on a thread of their own, not the cooperative pool.
    static func send(_ command: String, to path: String, timeout: Int = 10) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try sendBlocking(command, to: path, timeout: timeout) })
            }
            thread.start()
        }
    }

    static func sendBlocking(_ command: String, to path: String, timeout: Int) throws -> String {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeliveryFailure(.targetUnreachable, "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw DeliveryFailure(.targetMisconfigured, "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw DeliveryFailure(.targetUnreachable, "connect \(path): \(String(cString: strerror(errno)))") }
        let out = Array(command.utf8)
        var offset = 0
        while offset < out.count {
            let sent = out[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw DeliveryFailure(.targetUnreachable, "send to \(path): \(String(cString: strerror(errno)))") }
            offset += sent
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got == 0 { break }
            guard got > 0 else { throw DeliveryFailure(.targetUnreachable, "no answer from \(path): \(String(cString: strerror(errno)))") }
            answer += buffer[0..<got]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
