import CertFleetCore
import Foundation
import Testing

@Suite struct DeliveryPlanTests {
    /// Every (held, current) pair that matters: first delivery, replay, newer, downgrade, nothing valid.
    @Test(
        arguments: [
            (nil, nil, DeliveryPlan.nothingValid), (3, nil, .nothingValid),
            (nil, 1, .deliver(version: 1)), (1, 2, .deliver(version: 2)), (1, 5, .deliver(version: 5)),
            (2, 2, .upToDate(version: 2)), (3, 2, .refuseDowngrade(held: 3, offered: 2)),
        ] as [(Int?, Int?, DeliveryPlan)])
    func planFollowsWhatTheTargetHolds(held: Int?, current: Int?, plan: DeliveryPlan) {
        #expect(DeliveryPlan.decide(held: held, current: current) == plan)
    }

    @Test func transientFailuresRetryWithBackoffUntilTheDayIsOver() {
        let policy = DeliveryRetryPolicy(backoff: BackoffPolicy(base: .seconds(2), cap: .seconds(3600)), giveUpAfter: .seconds(86400))
        let first = Date(timeIntervalSince1970: 1_000_000)
        let failure = DeliveryFailure(.reloadFailed, "exit 1")
        // Full ceiling drawn: 2 s after the first, 4 s after the second, capped at 1 h.
        #expect(policy.decide(failure, attempt: 1, firstAttempt: first, now: first, random: { 1 }) == .retry(at: first.addingTimeInterval(2)))
        #expect(policy.decide(failure, attempt: 2, firstAttempt: first, now: first, random: { 1 }) == .retry(at: first.addingTimeInterval(4)))
        #expect(policy.decide(failure, attempt: 30, firstAttempt: first, now: first, random: { 1 }) == .retry(at: first.addingTimeInterval(3600)))
        // Never less than half the ceiling: a failing target is not hammered.
        #expect(policy.decide(failure, attempt: 3, firstAttempt: first, now: first, random: { 0 }) == .retry(at: first.addingTimeInterval(4)))
        // Past 24 h after the first attempt: the dead letter.
        let late = first.addingTimeInterval(86400 - 10)
        #expect(policy.decide(failure, attempt: 40, firstAttempt: first, now: late, random: { 1 }) == .giveUp)
    }

    @Test(arguments: DeliveryFailure.Code.allCases)
    func permanentFailuresEndAtOnce(code: DeliveryFailure.Code) {
        let failure = DeliveryFailure(code, "answer")
        let decision = DeliveryRetryPolicy.standard.decide(failure, attempt: 1, firstAttempt: Date(), now: Date())
        #expect((decision == .giveUp) == !failure.isTransient)
        let transient: Set<DeliveryFailure.Code> = [
            .targetUnreachable, .writeFailed, .reloadFailed, .reloadTimeout, .webhookRejected, .keyUnavailable,
        ]
        #expect(failure.isTransient == transient.contains(code))
    }

    @Test(arguments: DeliveryFailure.Code.allCases)
    func deliveryCodesAreFailureReasons(code: DeliveryFailure.Code) {
        #expect(FailureReason(code: code.rawValue) == .delivery(code: code.rawValue))
        #expect(FailureReason.delivery(code: code.rawValue).code == code.rawValue)
    }

    @Test func answersAreTrimmed() {
        #expect(DeliveryFailure(.webhookRejected, String(repeating: "x", count: 2000)).answer.count == 500)
    }
}

@Suite struct DeliveryTargetSettingsTests {
    @Test func validSettingsParse() throws {
        #expect(
            try DeliveryTargetSettings.parse(
                kind: .files, config: ["directory": "/etc/ssl/cf", "reload_command": "nginx -s reload"],
                hasSecret: false)
                == .files(directory: "/etc/ssl/cf", reloadCommand: "nginx -s reload", reloadTimeout: .seconds(30)))
        #expect(
            try DeliveryTargetSettings.parse(
                kind: .haproxy, config: ["socket": "/run/haproxy.sock", "certificate": "/etc/haproxy/{name}.pem"],
                hasSecret: false) == .haproxy(socket: "/run/haproxy.sock", certificate: "/etc/haproxy/{name}.pem"))
        #expect(
            try DeliveryTargetSettings.parse(kind: .webhook, config: ["url": "https://hooks.example/x"], hasSecret: true)
                == .webhook(url: "https://hooks.example/x"))
        #expect(try DeliveryTargetSettings.parse(kind: .agent, config: [:], hasSecret: true) == .agent)
        #expect(
            try DeliveryTargetSettings.parse(kind: .unit, config: ["socket": "/run/unit.sock", "listener": "*:443"], hasSecret: false)
                == .unit(socket: "/run/unit.sock", listener: "*:443"))
    }

    @Test(
        arguments: [
            (DeliveryTargetKind.files, ["directory": "relative"], false, DeliveryFailure.Code.targetMisconfigured),
            (.files, ["directory": "/x", "reload_timeout_seconds": "0"], false, .targetMisconfigured),
            (.haproxy, ["socket": "/s", "certificate": "a b"], false, .targetMisconfigured),
            (.haproxy, ["certificate": "/c.pem"], false, .targetMisconfigured),
            (.webhook, ["url": "ftp://x"], true, .targetMisconfigured),
            (.webhook, ["url": "https://x.example"], false, .targetMisconfigured),
            (.unit, ["socket": "relative.sock", "listener": "*:443"], false, .targetMisconfigured),
            (.unit, ["socket": "/run/unit.sock", "listener": "a/b"], false, .targetMisconfigured),
        ] as [(DeliveryTargetKind, [String: String], Bool, DeliveryFailure.Code)])
    func unusableSettingsAreRefused(kind: DeliveryTargetKind, config: [String: String], hasSecret: Bool, code: DeliveryFailure.Code) {
        #expect(throws: DeliveryFailure.self) { try DeliveryTargetSettings.parse(kind: kind, config: config, hasSecret: hasSecret) }
        do {
            _ = try DeliveryTargetSettings.parse(kind: kind, config: config, hasSecret: hasSecret)
        } catch let failure as DeliveryFailure {
            #expect(failure.code == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
