import Foundation
import NIOHTTP1
import Testing
import X509

@testable import ACME

/// Parsing and encoding that needs no server.
@Suite struct ProtocolUnitTests {
    @Test func problemDocumentsDecodeWithSubproblemsAndRetryAfter() throws {
        let json = """
            {"type":"urn:ietf:params:acme:error:compound","detail":"2 identifiers failed","status":400,
             "subproblems":[{"type":"urn:ietf:params:acme:error:dns","detail":"NXDOMAIN","identifier":{"type":"dns","value":"a.example"}},
                            {"type":"urn:ietf:params:acme:error:caa","identifier":{"type":"dns","value":"b.example"}}]}
            """
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "120")
        let reply = HTTPReply(status: 400, headers: headers, body: Array(json.utf8), url: "https://ca/x")
        let problem = try #require(reply.problem)
        #expect(problem.kind == .compound)
        #expect(problem.retryAfterSeconds == 120)
        #expect(problem.subproblems?.map(\.identifier) == [.dns("a.example"), .dns("b.example")])
        #expect(problem.subproblems?.first?.kind == .dns)
        #expect(problem.classification.disposition == .validationFailed) // dns and caa: the names failed validation
        #expect(throws: ACMEError.self) { try reply.requireSuccess() }
    }

    @Test func rateLimitedIsTransientWithTheServersRetryAfter() {
        let problem = ACMEProblem(type: "urn:ietf:params:acme:error:rateLimited", status: 429, retryAfterSeconds: 3600)
        #expect(ACMEError.problem(problem).classification.disposition == .retryLater(retryAfterSeconds: 3600))
        #expect(ACMEError.network("refused").classification.isTransient)
    }

    @Test func linkHeadersYieldAlternates() {
        var headers = HTTPHeaders()
        headers.add(name: "Link", value: #"<https://ca/dir>;rel="index", <https://ca/cert/1/1>;rel="alternate""#)
        headers.add(name: "Link", value: #"<https://ca/cert/1/2>; rel=alternate"#)
        let reply = HTTPReply(status: 200, headers: headers, body: [], url: "https://ca/cert/1")
        #expect(reply.links(rel: "alternate") == ["https://ca/cert/1/1", "https://ca/cert/1/2"])
        #expect(reply.links(rel: "index") == ["https://ca/dir"])
    }

    @Test func retryAfterAcceptsSecondsAndDates() {
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "Wed, 21 Oct 2015 07:28:00 GMT")
        #expect(HTTPReply(status: 200, headers: headers, body: [], url: "").retryAfterSeconds == 0) // in the past
        headers.replaceOrAdd(name: "Retry-After", value: "7")
        #expect(HTTPReply(status: 200, headers: headers, body: [], url: "").retryAfterSeconds == 7)
    }

    /// The wire format itself is tested in DNSTests (fixed vectors, real servers).
    @Test func dnsResolverParsesServers() {
        #expect(DNSTXTResolver(server: "127.0.0.1:8053")?.port == 8053)
        #expect(DNSTXTResolver(server: "[::1]:53")?.host == "::1")
        #expect(DNSTXTResolver(server: "10.0.0.1")?.port == 53)
    }

    @Test func challengeTaskDerivesTheDNSRecord() {
        let task = ChallengeTask(
            identifier: .dns("*.example.com"), type: .dns01, token: "tok", keyAuthorization: "tok.thumb",
            challengeURL: "c", authorizationURL: "a")
        #expect(task.dnsRecordName == "_acme-challenge.example.com.")
        #expect(task.dnsRecordValue == Base64URL.encode(Digest.sha256(Array("tok.thumb".utf8))))
        #expect(task.httpPath == "/.well-known/acme-challenge/tok")
    }

    @Test func checkpointRoundTripsThroughJSON() throws {
        var checkpoint = IssuanceCheckpoint(identifiers: ["a.example", "*.a.example"])
        checkpoint.step = .challengesPresented
        checkpoint.orderURL = "https://ca/order/1"
        checkpoint.authorizationURLs = ["https://ca/authz/1", "https://ca/authz/2"]
        let decoded = try JSONDecoder().decode(IssuanceCheckpoint.self, from: JSONEncoder().encode(checkpoint))
        #expect(decoded == checkpoint)
        #expect(IssuanceCheckpoint.Step.orderReady > .challengesAccepted)
    }

    @Test func identifiersForIPAddressesUseTheIPType() {
        #expect(IssuanceDriver.identifier("192.0.2.1").type == "ip")
        #expect(IssuanceDriver.identifier("2001:db8::1").type == "ip")
        #expect(IssuanceDriver.identifier("www.example.com").type == "dns")
    }

    @Test func eabKeyIsNeverPrinted() throws {
        let binding = try ExternalAccountBinding(keyID: "kid-1", base64URLMACKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQ")
        #expect("\(binding)" == "ExternalAccountBinding(keyID: kid-1)")
        #expect(throws: ACMEError.self) { try ExternalAccountBinding(keyID: "k", base64URLMACKey: "!!") }
    }
}
