import ArgumentParser

/// The `certfleet` executable: server processes and operator commands.
@main
struct CertFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certfleet",
        abstract: "Self-hosted certificate lifecycle service.",
        subcommands: [
            Migrate.self, WorkerCommand.self, SchedulerCommand.self, APICommand.self, KeysCommand.self, Bench.self,
            CertsCommand.self, JobsCommand.self, CertificateCommand.self, TargetsCommand.self,
        ])
}

/// `certfleet bench …`: benchmarks that print figures next to a baseline measured in the same run.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure CertFleet against a baseline tool in the same run.",
        subcommands: [BenchPostgres.self, BenchAMQP.self, BenchX509.self, BenchJobs.self, BenchACME.self, BenchAPI.self, BenchIssue.self])
}
