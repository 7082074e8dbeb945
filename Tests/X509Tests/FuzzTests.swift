import Foundation
import Testing

@testable import X509

/// SplitMix64: a tiny deterministic generator so a failing case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct FuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["X509_FUZZ_ITERATIONS"] ?? "") ?? 10_000

    /// Mutates `base` in one of several ways real uploads go wrong.
    static func mutate(_ base: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = base
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: // flip random bits
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            }
        case 1: // truncate
            bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
        case 2: // random bytes overwrite a span
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            for i in start..<min(bytes.count, start + Int.random(in: 1...64, using: &rng)) { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        case 3: // delete a span
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...200, using: &rng)))
        case 4: // duplicate a span somewhere else
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            let span = bytes[start..<min(bytes.count, start + Int.random(in: 1...400, using: &rng))]
            bytes.insert(contentsOf: span, at: Int.random(in: 0...bytes.count, using: &rng))
        case 5: // swap two lines
            var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            let a = Int.random(in: 0..<lines.count, using: &rng), b = Int.random(in: 0..<lines.count, using: &rng)
            lines.swapAt(a, b)
            bytes = Array(lines.joined(separator: [0x0A]))
        case 6: // change one base64 character into another (keeps the PEM well-formed, breaks the DER)
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                if alphabet.contains(bytes[i]) { bytes[i] = alphabet[Int.random(in: 0..<64, using: &rng)] }
            }
        case 7: // drop, repeat or reorder whole PEM blocks (reaches chain assembly)
            let text = String(decoding: bytes, as: UTF8.self)
            var blocks = text.components(separatedBy: "-----BEGIN ").dropFirst().map { "-----BEGIN " + $0 }
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: blocks.remove(at: Int.random(in: 0..<blocks.count, using: &rng))
            case 1: blocks.append(blocks[Int.random(in: 0..<blocks.count, using: &rng)])
            default: blocks.shuffle(using: &rng)
            }
            bytes = Array(blocks.joined().utf8)
        default: // pure binary noise
            bytes = (0..<Int.random(in: 0...2048, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return bytes
    }

    @Test func mutatedBundlesGiveATypedErrorOrAValidParse() throws {
        let chain = try StandardChain.make(leafKey: "ec:P-256")
        let base = Array((chain.root + chain.leaf + chain.intermediate + chain.leafKey).utf8)
        var rng = SplitMix64(state: 0xC3_87F1_EE75)
        var parsed = 0
        var usable = 0
        var codes: [String: Int] = [:]
        for _ in 0..<Self.iterations {
            let input = Self.mutate(base, &rng)
            do {
                let bundle = try CertificateBundle.parse(bytes: input)
                // A parse that succeeds must hold together.
                #expect(!bundle.chain.isEmpty)
                _ = bundle.details()
                _ = bundle.lint()
                // Upload policy on a mutated bundle: passes or fails with a typed error, never traps.
                if (try? bundle.validate()) != nil { usable += 1 }
                parsed += 1
            } catch {
                codes[error.code, default: 0] += 1
                #expect(!error.message.isEmpty)
            }
        }
        #expect(parsed + codes.values.reduce(0, +) == Self.iterations)
        // The mutations must reach past the PEM layer, or the test proves little.
        #expect(parsed > 0)
        #expect(codes["pem_invalid", default: 0] > 0)
        print("fuzz: \(Self.iterations) inputs, \(parsed) parsed (\(usable) pass validate), errors \(codes.sorted { $0.key < $1.key })")
    }
}
