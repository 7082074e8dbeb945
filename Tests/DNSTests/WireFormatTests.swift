import Foundation
import Testing

@testable import DNS

/// The codec against fixed byte vectors: hand-made from RFC 1035 and signed by dnspython 2.9.
@Suite struct WireFormatTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func queryEncoding() throws {
        let query = DNSMessage.query(try DNSName("Example.com."), .a, id: 0x1234, recursive: true)
        // Case is kept as given (servers compare case-insensitively).
        #expect(query.encoded() == Self.hex("123401000001000000000000074578616d706c6503636f6d0000010001"))
    }

    @Test func responseWithCompressionDecodes() throws {
        // example.com A → 93.184.216.34 and a TXT with two strings, owner names compressed (C00C).
        let bytes = Self.hex(
            "123481800001000200000000" + "076578616d706c6503636f6d0000010001"
                + "c00c000100010000003c00045db8d822" + "c00c001000010000003c00080361626303646566")
        let decoded = try DNSMessage.decode(bytes)
        let message = decoded.message
        #expect(message.id == 0x1234 && message.isResponse && message.recursionAvailable && message.rcode == .noError)
        #expect(message.questions == [DNSQuestion(name: try DNSName("example.com"), type: .a)])
        #expect(message.answers[0].data == .a([93, 184, 216, 34]) && message.answers[0].ttl == 60)
        #expect(message.answers[1].name == (try DNSName("EXAMPLE.COM")))
        #expect(message.answers[1].data.text == "abcdef")
        #expect(decoded.tsigOffset == nil)
    }

    @Test func roundTripOfEveryType() throws {
        var message = DNSMessage(id: 7)
        message.isResponse = true
        message.authoritative = true
        let name = try DNSName("a.example.test")
        message.answers = [
            DNSRecord(name: name, type: .a, ttl: 1, data: .a([127, 0, 0, 1])),
            DNSRecord(name: name, type: .aaaa, ttl: 1, data: .aaaa(Array(repeating: 0, count: 15) + [1])),
            DNSRecord(name: name, type: .ns, ttl: 1, data: .ns(try DNSName("ns1.example.test"))),
            DNSRecord(name: name, type: .cname, ttl: 1, data: .cname(try DNSName("b.example.test"))),
            DNSRecord(
                name: name, type: .soa, ttl: 1,
                data: .soa(
                    DNSSOA(
                        primary: try DNSName("ns1.example.test"),
                        mailbox: try DNSName("h.example.test"), serial: 5, refresh: 6, retry: 7, expire: 8, minimum: 9))),
            DNSRecord.txt(name, String(repeating: "x", count: 300)),
            DNSRecord(name: name, type: .caa, ttl: 1, data: .caa(DNSCAA(flags: 128, tag: "issuewild", value: ";"))),
        ]
        let decoded = try DNSMessage.decode(message.encoded()).message
        #expect(decoded == message)
        if case .txt(let strings) = decoded.answers[5].data { #expect(strings.map(\.count) == [255, 45]) }
        #expect(decoded.answers[6].data == .caa(DNSCAA(flags: 128, tag: "issuewild", value: ";")))
    }

    @Test func hostileMessagesAreMalformedNotCrashes() throws {
        // A compression pointer to itself, a forward pointer, a label past the end, a truncated header.
        let loops = Self.hex("000081800001000000000000c00c00010001")
        #expect(throws: DNSError.self) { try DNSMessage.decode(loops) }
        let forward = Self.hex("000081800001000000000000c01400010001")
        #expect(throws: DNSError.self) { try DNSMessage.decode(forward) }
        #expect(throws: DNSError.self) { try DNSMessage.decode(Self.hex("0000818000010000000000003f6162")) }
        #expect(throws: DNSError.self) { try DNSMessage.decode([0, 1, 2]) }
        for _ in 0..<2000 {
            _ = try? DNSMessage.decode((0..<Int.random(in: 0..<80)).map { _ in UInt8.random(in: 0...255) })
        }
    }

    @Test func namesCompareCaseInsensitivelyAndClimb() throws {
        let name = try DNSName("_acme-challenge.WWW.Example.Test.")
        #expect(name.isSubdomain(of: try DNSName("example.test")))
        #expect(!name.isSubdomain(of: try DNSName("ample.test")))
        #expect(name.parent?.parent == (try DNSName("example.test")))
        #expect(name.description == "_acme-challenge.WWW.Example.Test.")
        #expect(throws: DNSError.self) { try DNSName("a..b") }
        #expect(throws: DNSError.self) { try DNSName(String(repeating: "a", count: 64) + ".test") }
    }

    /// dnspython signed these UPDATEs (add TXT "abc", delete TXT "old"; key certfleet-key =
    /// "0123456789abcdef0123456789abcdef"); our MAC over its (compressed) bytes must match.
    @Test(arguments: [
        (
            TSIGKey.Algorithm.hmacSHA256,
            "424228000001000000020001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e6765c00c0010"
                + "00010000003c000403616263c01e001000fe000000000004036f6c640d63657274666c6565742d6b65790000fa00ff000000"
                + "00003d0b686d61632d7368613235360000006b0db409012c0020fead590de62d42cd02ea8d6f87909b9752da87805d765cb9"
                + "0d5b99325b9c130a424200000000"
        ),
        (
            .hmacSHA512,
            "424228000001000000020001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e6765c00c0010"
                + "00010000003c000403616263c01e001000fe000000000004036f6c640d63657274666c6565742d6b65790000fa00ff000000"
                + "00005d0b686d61632d7368613531320000006b0db409012c0040a39b9958aa9f8d547359c353203e4645329cb5671e09f849"
                + "558c058415cc94eb42dee646b9f1f2d34ed6d3970aa2194a7860fa1bc52bdc389cfe46736728676c424200000000"
        ),
    ])
    func tsigMatchesDnspython(algorithm: TSIGKey.Algorithm, vector: String) throws {
        let key = TSIGKey(name: try DNSName("certfleet-key"), algorithm: algorithm, secret: Array("0123456789abcdef0123456789abcdef".utf8))
        let decoded = try DNSMessage.decode(Self.hex(vector))
        #expect(decoded.message.opcode == .update && decoded.message.authority.count == 2)
        #expect(decoded.message.authority[1].rrClass == .none && decoded.message.authority[1].data.text == "old")
        let signedAt = Date(timeIntervalSince1970: TimeInterval(try #require(decoded.tsig).timeSigned))
        try TSIG.verify(decoded, requestMAC: nil, key: key, server: "vector", now: signedAt)
        // One flipped bit of the key or the message fails, and a time outside the fudge fails.
        let other = TSIGKey(name: key.name, algorithm: algorithm, secret: Array("1123456789abcdef0123456789abcdef".utf8))
        #expect(throws: DNSError.self) { try TSIG.verify(decoded, requestMAC: nil, key: other, server: "vector", now: signedAt) }
        var tampered = Self.hex(vector)
        tampered[50] ^= 1
        #expect(throws: DNSError.self) {
            try TSIG.verify(try DNSMessage.decode(tampered), requestMAC: nil, key: key, server: "vector", now: signedAt)
        }
        #expect(throws: DNSError.self) {
            try TSIG.verify(decoded, requestMAC: nil, key: key, server: "vector", now: signedAt.addingTimeInterval(301))
        }
    }

    @Test func ourSignatureVerifies() throws {
        let key = try #require(TSIGKey(name: "k.", algorithm: .hmacSHA512, base64Secret: "c2VjcmV0c2VjcmV0c2VjcmV0"))
        var update = DNSMessage(id: 99)
        update.opcode = .update
        update.questions = [DNSQuestion(name: try DNSName("example.test"), type: .soa)]
        update.authority = [.txt(try DNSName("_acme-challenge.example.test"), "v")]
        let (bytes, _) = TSIG.sign(update, key: key)
        try TSIG.verify(try DNSMessage.decode(bytes), requestMAC: nil, key: key, server: "self")
        #expect(!key.description.contains("c2VjcmV0"))
    }
}
