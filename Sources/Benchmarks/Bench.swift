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
