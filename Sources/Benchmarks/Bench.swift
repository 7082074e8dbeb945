import ArgumentParser

/// `certfleet bench …`: benchmarks that print figures next to a baseline measured in the same run.
public struct Bench: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure CertFleet against a baseline tool in the same run.",
        subcommands: [
            BenchPostgres.self, BenchAMQP.self, BenchX509.self, BenchJobs.self, BenchACME.self, BenchAPI.self, BenchIssue.self,
            BenchScale.self, BenchStorm.self,
        ])
}

/// A benchmark that could not finish (a tool failed, a service did not answer). Unlike
/// `ValidationError`, which is for bad arguments, it prints no usage and exits 1, not 64.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
