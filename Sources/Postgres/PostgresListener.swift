import Foundation
import Logging
import NIOConcurrencyHelpers

/// One NOTIFY received on a channel this process listens to.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
    /// The backend process that sent it.
    public let pid: Int32
}

/// LISTENs on channels over a dedicated connection and thread, and yields each
/// NOTIFY as it arrives. Reconnects (and LISTENs again) when the connection breaks;
/// notifications sent while it was down are lost, so callers keep a periodic scan too.
public final class PostgresListener: Sendable {
    /// The notifications, in the order they arrived.
    public let notifications: AsyncStream<PostgresNotification>
    private let continuation: AsyncStream<PostgresNotification>.Continuation
    private let stopped = NIOLockedValueBox(false)
    private let listening = NIOLockedValueBox(false)

    /// Starts listening at once; `isListening` turns true after the first LISTEN succeeded.
    public init(connectionString: String, channels: [String], logger: Logger = Logger(label: "certfleet.postgres.listen")) {
        (notifications, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread { [self] in
            self.loop(connectionString: connectionString, channels: channels, logger: logger)
        }
        thread.name = "certfleet-pg-listen"
        thread.start()
    }

    /// True while a LISTEN is active on a healthy connection.
    public var isListening: Bool { listening.withLockedValue { $0 } }

    /// Stops the thread (within half a second) and finishes the stream.
    public func stop() {
        stopped.withLockedValue { $0 = true }
    }

    private var isStopped: Bool { stopped.withLockedValue { $0 } }

    private func loop(connectionString: String, channels: [String], logger: Logger) {
        var backoff = 0.1
        while !isStopped {
            do {
                let connection = try PostgresConnection.connect(connectionString, applicationName: "certfleet-listen")
                for channel in channels {
                    try connection.simpleQuery("LISTEN \(try connection.quoteIdentifier(channel))")
                }
                listening.withLockedValue { $0 = true }
                backoff = 0.1
                while !isStopped {
                    var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&descriptor, 1, 500)
                    if ready < 0 && errno != EINTR { break }
                    if ready > 0 {
                        for notification in try connection.drainNotifications() {
                            continuation.yield(notification)
                        }
                    }
                    if connection.isBroken { break }
                }
            } catch {
                logger.warning("LISTEN connection failed; reconnecting", metadata: ["error": "\(error)"])
            }
            listening.withLockedValue { $0 = false }
            if isStopped { break }
            Thread.sleep(forTimeInterval: backoff)
            backoff = min(backoff * 2, 5)
        }
        continuation.finish()
    }
}
