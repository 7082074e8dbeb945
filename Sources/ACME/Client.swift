import Foundation
import Logging
import Synchronization
import X509

/// How to reach an ACME server and how patient to be with it.
public struct ACMEConfiguration: Sendable {
    /// The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    public var directoryURL: String
    /// A PEM file with an extra CA to trust for the server's HTTPS (Pebble's), or nil.
    public var trustedCAFile: String?
    /// Deadline of one HTTP exchange.
    public var requestTimeout: Duration
    /// How often a request rejected with `badNonce` is repeated with a fresh nonce.
    public var maxBadNonceRetries: Int
    /// First wait between polls when the server gives no `Retry-After`; doubles up to `maxPollInterval`.
    public var pollInterval: Duration
    public var maxPollInterval: Duration
    /// Deadline of one poll loop (authorization valid, order ready/valid).
    public var pollTimeout: Duration
    public var userAgent: String

    public init(
        directoryURL: String, trustedCAFile: String? = nil, requestTimeout: Duration = .seconds(30),
        maxBadNonceRetries: Int = 10, pollInterval: Duration = .milliseconds(100),
        maxPollInterval: Duration = .seconds(3), pollTimeout: Duration = .seconds(120),
        userAgent: String = "CertFleet-ACME/1"
    ) {
        self.directoryURL = directoryURL
        self.trustedCAFile = trustedCAFile
        self.requestTimeout = requestTimeout
        self.maxBadNonceRetries = maxBadNonceRetries
        self.pollInterval = pollInterval
        self.maxPollInterval = maxPollInterval
        self.pollTimeout = pollTimeout
        self.userAgent = userAgent
    }
}

/// An RFC 8555 client bound to one account key. Safe to share between tasks:
/// concurrent orders on one client share its connection pool and nonce pool.
///
/// The account URL (`kid`) is set by ``register(contact:agreeToTermsOfService:externalAccountBinding:)``
/// or ``findExistingAccount()``, or passed in when it is already known (from the database).
public final class ACMEClient: Sendable {
    public let configuration: ACMEConfiguration
    let transport: HTTPTransport
    let nonces = NoncePool()
    let badNonces = Mutex(0)
    let logger: Logger
    let state: Mutex<State>

    struct State {
        var accountKey: PrivateKey
        var accountURL: String?
        var directory: ACMEDirectory?
    }

    /// - Parameters:
    ///   - accountKey: the account key (generated, or imported with `PrivateKey(pem:)`).
    ///   - accountURL: the account's URL when already registered; nil before registration.
    public init(
        configuration: ACMEConfiguration, accountKey: PrivateKey, accountURL: String? = nil,
        logger: Logger = Logger(label: "certfleet.acme")
    ) throws(ACMEError) {
        _ = try Self.checkedAlgorithm(accountKey)
        self.configuration = configuration
        self.transport = try HTTPTransport(
            trustedCAFile: configuration.trustedCAFile, timeout: configuration.requestTimeout, userAgent: configuration.userAgent,
            metrics: ACMERequestMetrics(ca: configuration.directoryURL))
        self.logger = logger
        self.state = Mutex(State(accountKey: accountKey, accountURL: accountURL))
    }

    /// Closes the connection pool. Call once when done.
    public func shutdown() async { await transport.shutdown() }

    /// The account URL used as JWS `kid`, once known.
    public var accountURL: String? { state.withLock { $0.accountURL } }

    /// How many requests were repeated after `badNonce` (for metrics and tests).
    public var badNonceRetries: Int { badNonces.withLock { $0 } }

    /// The current account key (changes after a key rollover).
    public var accountKey: PrivateKey { state.withLock { $0.accountKey } }

    static func checkedAlgorithm(_ key: PrivateKey) throws(ACMEError) -> JWSAlgorithm {
        do { return try JWS.algorithm(for: key) } catch { throw .crypto(error.description) }
    }

    /// Who signs a request: the account (`kid`), or a key whose JWK goes in the header.
    enum Signer {
        case account
        case jwk(PrivateKey)
    }

    /// A JWS-signed POST (RFC 8555 section 6.2). A nil payload is POST-as-GET.
    /// A `badNonce` answer is repeated with the fresh nonce it carried, up to
    /// `maxBadNonceRetries` times; other problems are thrown typed.
    func post(
        _ url: String, _ action: ACMEAction, payload: [UInt8]?, signer: Signer = .account, accept: String? = nil
    ) async throws(ACMEError) -> HTTPReply {
        var attempt = 0
        while true {
            let nonce = try await nonce()
            let body = try sign(url: url, payload: payload, nonce: nonce, signer: signer)
            let reply = try await transport.send(
                .POST, url, action: action, body: body, contentType: "application/jose+json", accept: accept)
            nonces.add(reply.header("Replay-Nonce"))
            if let problem = reply.problem, problem.kind == .badNonce, attempt < configuration.maxBadNonceRetries {
                attempt += 1
                badNonces.withLock { $0 += 1 }
                logger.debug("badNonce, retrying", metadata: ["url": "\(url)", "attempt": "\(attempt)"])
                continue
            }
            try reply.requireSuccess()
            return reply
        }
    }

    /// POST-as-GET and decode.
    func fetch<T: Decodable>(_ type: T.Type, _ url: String, _ action: ACMEAction) async throws(ACMEError) -> (T, HTTPReply) {
        let reply = try await post(url, action, payload: nil)
        return (try reply.decode(type), reply)
    }

    private func sign(url: String, payload: [UInt8]?, nonce: String, signer: Signer) throws(ACMEError) -> [UInt8] {
        let (key, kid): (PrivateKey, String?) = try {
            () throws(ACMEError) -> (PrivateKey, String?) in
            switch signer {
            case .jwk(let key): return (key, nil)
            case .account:
                let (key, kid) = state.withLock { ($0.accountKey, $0.accountURL) }
                guard let kid else { throw .invalidState("no account URL: register or find the account first") }
                return (key, kid)
            }
        }()
        do {
            let jws = try JWS.acme(payload: payload, url: url, nonce: nonce, key: key, keyID: kid)
            return Array(try JSONEncoder().encode(jws))
        } catch let error as X509Error {
            throw .crypto(error.description)
        } catch {
            throw .crypto("cannot encode the JWS")
        }
    }

    /// JSON for a request payload.
    static func json<T: Encodable>(_ value: T) throws(ACMEError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        do { return Array(try encoder.encode(value)) } catch { throw .crypto("cannot encode the request payload") }
    }

    /// Polls `url` (POST-as-GET) until `done` says so. Honours `Retry-After`
    /// (RFC 8555 section 7.4); without it waits `pollInterval`, doubling.
    /// Throws `timedOut` at the deadline, carrying the last `Retry-After`.
    /// `waitFirst` waits one `pollInterval` before the first request.
    func poll<T: Decodable & Sendable>(
        _ type: T.Type, _ url: String, _ action: ACMEAction, what: String, timeout: Duration? = nil, waitFirst: Bool = false,
        done: (T) throws(ACMEError) -> Bool
    ) async throws(ACMEError) -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + (timeout ?? configuration.pollTimeout)
        var interval = configuration.pollInterval
        if waitFirst {
            do { try await Task.sleep(for: interval) } catch { throw .timedOut(what: "\(what) (cancelled)", retryAfterSeconds: nil) }
            interval = min(interval * 2, configuration.maxPollInterval)
        }
        while true {
            let (value, reply) = try await fetch(type, url, action)
            if try done(value) { return value }
            let retryAfter = reply.retryAfterSeconds
            var wait = interval
            if let retryAfter { wait = .milliseconds(Int64(retryAfter * 1000)) }
            guard clock.now + wait < deadline else { throw .timedOut(what: what, retryAfterSeconds: retryAfter) }
            do { try await Task.sleep(for: wait) } catch { throw .timedOut(what: "\(what) (cancelled)", retryAfterSeconds: retryAfter) }
            interval = min(interval * 2, configuration.maxPollInterval)
        }
    }
}
