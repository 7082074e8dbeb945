import AMQP
import CertFleetCore
import Foundation
import Jobs
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// Lifecycle events and the scheduler's `expiring` scan with real `certfleet worker` and
/// two `certfleet scheduler` processes; every message consumed from the broker is checked
/// against its JSON Schema in `schemas/messages/`.
@Suite("Lifecycle events", .serialized)
struct LifecycleEventTests {
    let fixtures = UploadFixtures.shared

    @Test(.timeLimit(.minutes(5))) func eventsFromRealProcessesMatchTheirSchemasAndExpiringFiresOncePerThreshold() async throws {
        let env = try await JobsEnvironment.make()
        let events = try await MessageTap(env.services, exchange: env.topology.eventsExchange, bindingKey: "certificate.#", name: "events")
        let jobs = try await MessageTap(env.services, exchange: env.topology.jobsExchange, bindingKey: "validate", name: "jobs")
        try env.start(["worker", "--queues", "validate,delete"], name: "worker")
        for index in 0..<2 {
            try env.start(["scheduler", "--expiry-interval", "1", "--expiring-thresholds", "30,14,7,1"], name: "scheduler-\(index)")
        }
        let good = try await env.submitter().upload(fixtures.upload(project: env.project, good: true, name: "expiring"))
        let bad = try await env.submitter().upload(fixtures.upload(project: env.project, good: false, name: "broken"))
        let lapsing = try await env.submitter().upload(fixtures.upload(project: env.project, good: true, name: "lapsing"))
        #expect(
            try await events.waitFor {
                $0.filter { $0.routingKey == "certificate.issued" }.count == 2 && $0.contains { $0.routingKey == "certificate.failed" }
            })
        // Past not_after: `expired`.
        try await env.db.query(
            "UPDATE certificate_versions SET not_after = now() - interval '1 minute' WHERE certificate_id = \(lapsing.certificateID)")
        #expect(try await events.waitFor { $0.contains { $0.routingKey == "certificate.expired" } })

        // Five days left: 30, 14 and 7 are crossed at once; only 7 is announced.
        try await env.db.query("UPDATE certificate_versions SET not_after = now() + interval '5 days' WHERE certificate_id = \(good.certificateID)")
        #expect(try await events.waitFor { $0.filter { $0.routingKey == "certificate.expiring" }.count >= 1 })
        // Twelve hours left: the 1-day threshold.
        try await env.db.query("UPDATE certificate_versions SET not_after = now() + interval '12 hours' WHERE certificate_id = \(good.certificateID)")
        #expect(try await events.waitFor { $0.filter { $0.routingKey == "certificate.expiring" }.count >= 2 })
        // Both schedulers keep scanning every second; give them several more rounds to repeat themselves.
        try await Task.sleep(for: .seconds(4))
        _ = try await env.submitter().delete(project: env.project, reference: "expiring", actor: "test")
        #expect(try await events.waitFor { $0.contains { $0.routingKey == "certificate.deleted" } })

        let received = await events.messages
        let expiring = received.filter { $0.routingKey == "certificate.expiring" }
        #expect(expiring.count == 2)
        let thresholds = expiring.compactMap { message -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any])
                .flatMap { $0["data"] as? [String: Any] }?["threshold_days"] as? Int
        }
        #expect(thresholds == [7, 1])
        #expect(try await env.count("SELECT count(*) FROM events WHERE type = 'expiring'") == 2)
        #expect(try await env.count("SELECT count(*) FROM expiry_notices WHERE certificate_id = \(good.certificateID)") == 4)
        #expect(
            Set(received.map(\.routingKey)) == [
                "certificate.issued", "certificate.failed", "certificate.expired", "certificate.expiring",
                "certificate.deleted",
            ])
        #expect(received.contains { $0.body.contains(bad.certificateID.uuidString.lowercased()) })
        try await MessageSchemas.validate(received.map(\.body), against: "certificate-event.v1.schema.json")
        let jobMessages = await jobs.messages
        #expect(!jobMessages.isEmpty)
        try await MessageSchemas.validate(jobMessages.map(\.body), against: "job.v1.schema.json")
        await events.close()
        await jobs.close()
        await env.tearDown()
    }
}
