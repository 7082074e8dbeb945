import ArgumentParser

/// `certfleet bench postgres`.
struct BenchPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "postgres", abstract: "Benchmark the Postgres module.")
    func run() async throws { throw ValidationError("not written yet") }
}
