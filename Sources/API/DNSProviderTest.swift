import ACME
import CertFleetCore
import DNS
import Foundation
import Store
import X509

/// The `test` action of a DNS provider: present → propagation → cleanup of one random value,
/// each step with its outcome and duration (codes, never secrets).
enum DNSProviderTest {
    static func run(record: DNSProviderRecord, secret sealed: [UInt8]?, zone: String, defaultResolver: String?) async -> JSONValue {
        var steps: [JSONValue] = []
        let clock = ContinuousClock()
        func step(_ name: String, _ started: ContinuousClock.Instant, _ error: (any Error)?, _ extra: [(String, JSONValue)] = []) {
            let ms = Int((clock.now - started) / .milliseconds(1))
            var members: [(String, JSONValue)] = [("step", .string(name)), ("ok", .bool(error == nil)), ("ms", .int(ms))]
            if let error { members += Self.describe(error) }
            steps.append(.object(members + extra))
        }
        let token = Base64URL.encode(SecureRandom.bytes(16))
        let task = ChallengeTask(
            identifier: .dns(zone), type: .dns01, token: token, keyAuthorization: "\(token).certfleet-provider-test",
            challengeURL: "", authorizationURL: "")
        var ok = false
        do {
            let settings = try DNSProviderSettings.decode(record.config)
            let provider = try settings.provider(kind: record.kind, secret: try DNSProviderSecret.opened(sealed))
            var solver = settings.solver(provider: provider, defaultResolver: defaultResolver.flatMap(DNSServer.init), trace: nil)
            solver.checkInterval = .milliseconds(300)
            var started = clock.now
            let name = try await solver.recordName(task)
            do { try await solver.present(task) } catch {
                step("present", started, error, [("record_name", .string(name))])
                throw error
            }
            step("present", started, nil, [("record_name", .string(name)), ("record_value", .string(task.dnsRecordValue))])
            started = clock.now
            var propagationError: (any Error)? = nil
            do { try await solver.waitUntilReady(task, timeout: min(settings.propagationTimeout, .seconds(30))) } catch { propagationError = error }
            var observed: [(String, JSONValue)] = []
            if let check = solver.propagation, let owner = try? DNSName(name) {
                observed = [("observations", (try? JSONValue.encoding(await check.observe(owner, value: task.dnsRecordValue))) ?? .null)]
            }
            step("propagation", started, propagationError, observed)
            started = clock.now
            do { try await solver.cleanUp(task) } catch {
                step("cleanup", started, error)
                throw error
            }
            step("cleanup", started, nil)
            ok = propagationError == nil
        } catch {
            if steps.isEmpty { step("setup", clock.now, error) }
        }
        return .object([("provider", .string(record.name)), ("zone", .string(zone)), ("ok", .bool(ok)), ("steps", .array(steps))])
    }

    static func describe(_ error: any Error) -> [(String, JSONValue)] {
        switch error {
        case let failure as DNS01Failure: return [("code", .string(failure.code)), ("message", .string(failure.description))]
        case let error as ACMEError: return [("code", .string(error.classification.code)), ("message", .string(error.description))]
        case let error as DNSError: return [("code", .string(error.code)), ("message", .string(error.description))]
        default: return [("code", .string("dns_provider")), ("message", .string("the provider failed"))]
        }
    }
}
