import AMQP
import Logging
import Store

extension Submissions {
    /// Submissions whose job messages are published right after commit (with a confirm);
    /// a message that fails to publish stays in the outbox for the scheduler's relay.
    public static func publishing(
        db: Database, sealer: KeySealer, amqp: AMQPConnection, topology: CertFleetTopology,
        logger: Logger
    ) -> Submissions {
        let publisher = OutboxPublisher(db: db, amqp: amqp, topology: topology, logger: logger)
        return Submissions(db: db, sealer: sealer, afterCommit: { await publisher.publishNow($0) })
    }
}
