import AMQP
import Logging
import Store

extension Submissions {
    /// Submissions whose job messages are published right after commit (with a confirm);
    /// a message that fails to publish stays in the outbox for the scheduler's relay.
    ///
    /// INBACKGROUND: the submitter does not wait for the publish and its confirm (the API:
    /// a 202 means committed; the outbox row guarantees the message is sent, by this publish
    /// or by the relay). Otherwise the call returns once the message is confirmed or left to the relay.
    public static func publishing(
        db: Database, sealer: KeySealer, amqp: AMQPConnection, topology: CertFleetTopology,
        logger: Logger, inBackground: Bool = false
    ) -> Submissions {
        let publisher = OutboxPublisher(db: db, amqp: amqp, topology: topology, logger: logger)
        if inBackground {
            return Submissions(db: db, sealer: sealer, afterCommit: { ids in Task { await publisher.publishNow(ids) } })
        }
        return Submissions(db: db, sealer: sealer, afterCommit: { await publisher.publishNow($0) })
    }
}
