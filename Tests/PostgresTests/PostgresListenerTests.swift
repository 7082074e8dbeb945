import Foundation
import Postgres
import TestSupport
import Testing

@Suite("LISTEN/NOTIFY")
struct PostgresListenerTests {
    @Test func notificationsArriveOnTheListenedChannelOnly() async throws {
        let channel = "cf_test_\(UInt32.random(in: 0...UInt32.max))"
        let listener = PostgresListener(connectionString: TestStack.databaseURL, channels: [channel])
        defer { listener.stop() }
        let deadline = Date().addingTimeInterval(10)
        while !listener.isListening && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(listener.isListening)

        let db = PostgresClient(TestStack.databaseURL, maxConnections: 1)
        try await db.query("SELECT pg_notify(\("other_\(channel)"), \("ignored"))")
        try await db.query("SELECT pg_notify(\(channel), \("outbox:42"))")
        var iterator = listener.notifications.makeAsyncIterator()
        let notification = await iterator.next()
        #expect(notification?.channel == channel)
        #expect(notification?.payload == "outbox:42")
        await db.shutdown()
    }
}
