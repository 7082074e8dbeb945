import ArgumentParser

/// `certfleet bench amqp`.
struct BenchAMQP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "amqp", abstract: "Benchmark the AMQP module.")
    func run() async throws { throw ValidationError("not written yet") }
}
