import CRabbitMQ
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Owns one rabbitmq-c connection and the dedicated thread that is the only
/// one ever to touch it (rabbitmq-c is not thread-safe). Other threads reach it
/// through `inbox`; all stored state below `inbox` is confined to that thread,
/// which is why the class can be `@unchecked Sendable`.
///
/// Channel layout: 1 publishes in confirm mode, 2 carries synchronous methods
/// (declare, delete, passive checks) so that a channel error there — e.g. 406
/// for a conflicting declare — never disturbs publishing or consuming, and
/// every consumer gets a channel of its own (3, 4, …) so its prefetch is its own.
final class Driver: @unchecked Sendable {
    enum Phase: Equatable {
        case starting, connected, disconnected
        case draining(deadline: ContinuousClock.Instant)
        case closed
    }

    static let publishChannel: amqp_channel_t = 1
    static let rpcChannel: amqp_channel_t = 2

    let configuration: AMQPConfiguration
    var logger: Logger
    let inbox = Inbox()

    // State readable from any thread (for `isConnected` and tests).
    private let statusLock = NSLock()
    private var connectedStatus = false
    private var connectionsStatus = 0

    // Owner-thread state.
    var conn: amqp_connection_state_t?
    var phase: Phase = .starting
    let arena = CArena()
    var endpointIndex = 0
    var reconnectAttempt = 0
    var reconnectAt = ContinuousClock.now
    var rpcChannelOpen = false
    var confirms = ConfirmTracker()
    var waitingPublishes: [PublishRequest] = []
    var consumers: [String: ConsumerRecord] = [:]
    var consumerByChannel: [amqp_channel_t: ConsumerRecord] = [:]
    var nextConsumerChannel: amqp_channel_t = 3
    /// Increases on every channel (re)open, so a delivery can tell whether its channel is still the same.
    var nextIncarnation = 0
    var topologies: [Topology] = []
    var assemblies: [amqp_channel_t: Assembly] = [:]
    /// Set when the frame pump stopped with data possibly still buffered inside rabbitmq-c.
    var moreToRead = false
    var closeWaiters: [CheckedContinuation<Void, Never>] = []

    init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "amqp_connection"] = "\(configuration.connectionName)"
        self.logger = logger
    }

    deinit {
        if let conn { amqp_destroy_connection(conn) }
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "amqp-\(configuration.connectionName)"
        thread.start()
    }

    var isConnected: Bool {
        statusLock.lock()
        defer { statusLock.unlock() }
        return connectedStatus
    }

    /// How many times a connection was established (1 after connect, +1 per reconnect).
    var connectionCount: Int {
        statusLock.lock()
        defer { statusLock.unlock() }
        return connectionsStatus
    }

    func setConnected(_ connected: Bool) {
        statusLock.lock()
        connectedStatus = connected
        if connected { connectionsStatus += 1 }
        statusLock.unlock()
    }

    /// Runs `body` on the owner thread and returns its result to the caller's task.
    func perform<T: Sendable>(_ body: @escaping (Driver) throws(AMQPError) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = inbox.submit { driver in
                guard driver.phase != .closed else { return continuation.resume(throwing: AMQPError.closed) }
                do { continuation.resume(returning: try body(driver)) } catch { continuation.resume(throwing: error) }
            }
            if !accepted { continuation.resume(throwing: AMQPError.closed) }
        }
    }

    /// The live connection, or the error a caller should see while reconnecting.
    func requireConnection() throws(AMQPError) -> amqp_connection_state_t {
        if phase == .closed { throw .closed }
        guard let conn else { throw .connectionLost("not connected; reconnecting") }
        return conn
    }

    // MARK: - The owner thread's loop

    private func run() {
        while true {
            for work in inbox.take() { work(self) }
            switch phase {
            case .closed:
                return
            case .draining(let deadline):
                if conn == nil || (confirms.isEmpty && waitingPublishes.isEmpty) || ContinuousClock.now >= deadline {
                    finishShutdown()
                    return
                }
            case .disconnected where ContinuousClock.now >= reconnectAt:
                attemptReconnect()
                continue
            default:
                break
            }
            if conn != nil {
                pumpFrames()
                if moreToRead { continue }
            }
            sleep()
        }
    }

    /// Waits for socket data, new work, a heartbeat tick or the reconnect time.
    private func sleep() {
        guard inbox.prepareToSleep() else { return }
        var fds = [pollfd(fd: inbox.wakeFD, events: Int16(POLLIN), revents: 0)]
        var timeout: Int32
        if let conn {
            fds.append(pollfd(fd: amqp_get_sockfd(conn), events: Int16(POLLIN), revents: 0))
            // Wake at least twice per heartbeat interval: rabbitmq-c only sends
            // heartbeats and notices missing ones while we call into it.
            let heartbeat = configuration.heartbeatSeconds
            timeout = heartbeat > 0 ? Int32(min(1000, heartbeat * 500)) : 1000
        } else if phase == .disconnected {
            let wait = reconnectAt - ContinuousClock.now
            timeout = Int32(max(1, min(1000, wait.seconds * 1000)))
        } else {
            timeout = 1000
        }
        let ready = poll(&fds, nfds_t(fds.count), timeout)
        inbox.awoke()
        if ready == 0, conn != nil { checkHeartbeat() }
    }

    // MARK: - Loss, reconnect, shutdown

    /// Drops the connection after any error that leaves it unusable: fails what
    /// cannot complete any more and schedules a reconnect with backoff.
    func connectionLost(_ error: AMQPError) {
        guard let lost = conn else { return }
        logger.warning("AMQP connection lost", metadata: ["error": "\(error)"])
        amqp_destroy_connection(lost)
        conn = nil
        setConnected(false)
        rpcChannelOpen = false
        assemblies.removeAll()
        moreToRead = false
        // Sent but unconfirmed: the outcome is unknown, so never report success.
        confirms.failAll(.unconfirmed(error.description))
        // Never sent: safe for the caller to retry.
        let waiting = waitingPublishes
        waitingPublishes.removeAll()
        for request in waiting { request.complete(.failure(.connectionLost(error.description))) }
        for record in consumers.values { record.incarnation = 0 }
        if case .draining = phase { return }
        phase = .disconnected
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        let delay = configuration.reconnect.delay(attempt: reconnectAttempt, random: Double.random(in: 0...1))
        reconnectAttempt += 1
        reconnectAt = ContinuousClock.now + delay
    }

    private func attemptReconnect() {
        do {
            try connectAny()
            reconnectAttempt = 0
            logger.info("AMQP connection re-established", metadata: ["endpoint": "\(configuration.endpoints[endpointIndex])"])
        } catch {
            logger.debug("AMQP reconnect failed", metadata: ["error": "\(error)"])
            if conn == nil {
                phase = .disconnected
                scheduleReconnect()
            }
        }
    }

    /// Starts a graceful shutdown: no new deliveries, wait (bounded) for
    /// outstanding confirms, then close the connection.
    func beginShutdown(_ waiter: CheckedContinuation<Void, Never>?) {
        if let waiter { closeWaiters.append(waiter) }
        switch phase {
        case .closed:
            closeWaiters.forEach { $0.resume() }
            closeWaiters.removeAll()
            return
        case .draining:
            return
        default:
            break
        }
        for record in consumers.values where !record.cancelled { cancelConsumer(record) }
        phase = .draining(deadline: ContinuousClock.now + configuration.shutdownTimeout)
    }

    func finishShutdown() {
        let waiting = waitingPublishes
        waitingPublishes.removeAll()
        for request in waiting { request.complete(.failure(.closed)) }
        confirms.failAll(.unconfirmed("connection closed before the broker confirmed"))
        if let conn {
            // Closing the connection closes its channels; unacked deliveries are requeued.
            _ = amqp_connection_close(conn, 200)
            amqp_destroy_connection(conn)
            self.conn = nil
            setConnected(false)
        }
        phase = .closed
        for record in consumers.values { record.continuation.finish() }
        consumers.removeAll()
        consumerByChannel.removeAll()
        for work in inbox.close() { work(self) }
        closeWaiters.forEach { $0.resume() }
        closeWaiters.removeAll()
        logger.debug("AMQP connection closed")
    }
}

func amqpErrorString(_ status: Int32) -> String {
    String(cString: amqp_error_string2(status))
}

extension timeval {
    init(_ duration: Duration) {
        let seconds = duration.seconds
        self.init(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
    }
}
