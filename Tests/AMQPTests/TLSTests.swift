import AMQP
import Foundation
import TestSupport
import Testing

/// amqps:// through rabbitmq-c's OpenSSL socket, against a private broker with a TLS listener.
@Suite struct TLSTests {
    /// A throwaway EC CA and a server certificate for localhost/127.0.0.1, made with the openssl CLI.
    private static func makeCertificates(in directory: String) async throws {
        let commands = [
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=certfleet-test-ca -keyout ca.key -out ca.pem",
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
            "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf",
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem",
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.pem",
            "chmod 644 *.pem *.key",
        ]
        try await TestStack.run("/bin/bash", ["-c", "set -e; cd '\(directory)'; " + commands.joined(separator: "; ")])
    }

    @Test(.timeLimit(.minutes(2)))
    func amqpsWithTheRightCAConnectsAndTheWrongCAIsRefused() async throws {
        let tls = TestStack.privateStackDirectory("rabbitmq-tls").path
        try await Self.makeCertificates(in: tls)
        let broker = PrivateBroker(tlsDirectory: tls)
        try await broker.start()
        do {
            try await check(try #require(broker.tlsURL), tls)
        } catch {
            try? await broker.stop(removingData: true)
            throw error
        }
        try await broker.stop(removingData: true)
        try? FileManager.default.removeItem(atPath: tls)
    }

    private func check(_ url: String, _ tls: String) async throws {
        var configuration = try AMQPConfiguration(
            urls: url, connectionName: "test-tls", tls: AMQPTLSConfiguration(caFile: tls + "/ca.pem"))
        configuration.heartbeatSeconds = 5
        let connection = try await AMQPConnection.connect(configuration)
        let names = AMQPTest.uniqueTopology("tls")
        try await connection.declare(names.topology)
        try await connection.publish(AMQPTest.message("over tls", id: "t-1"), exchange: names.jobsExchange, routingKey: "issue")
        let consumer = try await connection.consume(queue: names.jobQueue("issue"))
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(delivery.text == "over tls")
        try await consumer.ack(delivery)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()

        configuration.tls.caFile = tls + "/other.pem"
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connected although the broker's certificate is not signed by the given CA")
        } catch AMQPError.connectFailed(_, let reason) {
            #expect(!reason.isEmpty)
        }
    }
}
