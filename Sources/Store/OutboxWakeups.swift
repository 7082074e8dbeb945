import Logging
import Postgres

/// Wakes the outbox relay when a transaction commits outbox rows (LISTEN/NOTIFY). Wake-ups
/// sent while it reconnects are lost, so the relay keeps its periodic scan too.
public struct OutboxWakeups: Sendable {
    let listener: PostgresListener

    public init(connectionString: String, logger: Logger) {
        listener = PostgresListener(connectionString: connectionString, channels: [Outbox.channel], logger: logger)
    }

    /// One element per notification; ends after `stop()`.
    public var wakeups: AsyncStream<PostgresNotification> { listener.notifications }

    public func stop() { listener.stop() }
}
