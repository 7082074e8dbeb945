import ArgumentParser

/// `certfleet bench x509`.
struct BenchX509: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "x509", abstract: "Benchmark the X509 module.")
    func run() async throws { throw ValidationError("not written yet") }
}
