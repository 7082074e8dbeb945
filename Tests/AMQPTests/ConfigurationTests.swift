import AMQP
import Messaging
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesCommaSeparatedURLsWithVhosts() throws {
        let configuration = try AMQPConfiguration(
            urls: "amqp://u:p%40ss@a:5673/,amqps://b/jobs, amqp://c/%2f", connectionName: "n")
        #expect(configuration.endpoints.count == 3)
        #expect(configuration.endpoints[0] == AMQPEndpoint(host: "a", port: 5673, user: "u", password: "p@ss", vhost: "/"))
        #expect(configuration.endpoints[1] == AMQPEndpoint(tls: true, host: "b", port: 5671, vhost: "jobs"))
        #expect(configuration.endpoints[2].vhost == "/")
        #expect(configuration.endpoints[2].port == 5672)
    }

    @Test func descriptionHidesThePassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://user:secret@host:1/")
        #expect(!"\(endpoint)".contains("secret"))
    }

    @Test func rejectsOtherSchemes() {
        #expect(throws: AMQPError.self) { try AMQPEndpoint(url: "http://host/") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(urls: "") }
    }

    @Test func backoffGrowsAndIsCapped() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(2), jitter: 0.2)
        #expect(policy.delay(attempt: 0, random: 0.5) == .milliseconds(100))
        #expect(policy.delay(attempt: 3, random: 0.5) == .milliseconds(800))
        #expect(policy.delay(attempt: 30, random: 0.5) == .seconds(2))
        #expect(policy.delay(attempt: 30, random: 1) == .milliseconds(2400))
    }

    @Test func certfleetTopologyHasAQuorumQueuePerJobKindDeadLettering() {
        let names = CertFleetTopology()
        let topology = names.topology
        #expect(names.jobQueue("issue") == "certfleet.jobs.issue")
        for kind in CertFleetTopology.jobKinds {
            let queue = topology.queues.first { $0.name == "certfleet.jobs.\(kind)" }
            #expect(queue?.arguments["x-queue-type"] == "quorum")
            #expect(queue?.arguments["x-dead-letter-exchange"] == "certfleet.jobs.dead")
        }
        #expect(topology.queues.contains { $0.name == "certfleet.jobs.dead" })
        #expect(topology.exchanges.contains { $0.name == "certfleet.events" && $0.type == .topic })
        #expect(topology.bindings.contains { $0.queue == "certfleet.requests" && $0.exchange == "certfleet.requests" })
    }
}
