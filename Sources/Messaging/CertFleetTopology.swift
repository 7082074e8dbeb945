import AMQP
import CertFleetCore

extension Topology {
    /// CertFleet's topology (names in `CertFleetTopology`).
    public static func certfleet(prefix: String = "certfleet") -> Topology {
        CertFleetTopology(prefix: prefix).topology
    }
}

/// CertFleet's names, in one place (DESIGN.md "AMQP topology").
///
/// `prefix` is "certfleet" in production; tests pass a unique prefix so they
/// can run in parallel on one broker without sharing queues.
public struct CertFleetTopology: Sendable, Hashable {
    /// The job kinds that each get a queue, also the routing keys on the jobs exchange.
    public static let jobKinds = JobKind.allCases.map(\.rawValue)

    public let prefix: String
    public init(prefix: String = "certfleet") { self.prefix = prefix }

    /// Direct exchange; routing key = job kind.
    public var jobsExchange: String { "\(prefix).jobs" }
    /// Fanout exchange every job queue dead-letters to.
    public var deadLetterExchange: String { "\(prefix).jobs.dead" }
    /// Rejected and unparseable jobs end up here, visible and countable.
    public var deadLetterQueue: String { "\(prefix).jobs.dead" }
    /// Topic exchange for lifecycle events, routing keys `certificate.<event>`.
    public var eventsExchange: String { "\(prefix).events" }
    /// Automation submits requests here (any routing key), replies go to `reply_to`.
    public var requestsExchange: String { "\(prefix).requests" }
    public var requestsQueue: String { "\(prefix).requests" }
    /// Redacted copies of malformed intake requests (never the originals: they may hold keys).
    public var requestsDeadLetterQueue: String { "\(prefix).requests.dead" }

    /// The queue for one job kind: `certfleet.jobs.<kind>`.
    public func jobQueue(_ kind: String) -> String { "\(prefix).jobs.\(kind)" }

    /// Everything above as a declarable topology.
    public var topology: Topology {
        var exchanges = [
            Topology.Exchange(name: jobsExchange, type: .direct),
            Topology.Exchange(name: deadLetterExchange, type: .fanout),
            Topology.Exchange(name: eventsExchange, type: .topic),
            Topology.Exchange(name: requestsExchange, type: .topic),
        ]
        exchanges.sort { $0.name < $1.name }
        var queues = Self.jobKinds.map { Topology.Queue.quorum(jobQueue($0), deadLetterExchange: deadLetterExchange) }
        queues.append(.quorum(deadLetterQueue))
        queues.append(.quorum(requestsQueue, deadLetterExchange: deadLetterExchange))
        queues.append(.quorum(requestsDeadLetterQueue))
        var bindings = Self.jobKinds.map {
            Topology.Binding(queue: jobQueue($0), exchange: jobsExchange, routingKey: $0)
        }
        bindings.append(.init(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: ""))
        bindings.append(.init(queue: requestsQueue, exchange: requestsExchange, routingKey: "#"))
        return Topology(exchanges: exchanges, queues: queues, bindings: bindings)
    }
}
