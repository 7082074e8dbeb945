import ArgumentParser
import Benchmarks

/// The `certfleet` executable: server processes and operator commands.
@main
struct CertFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certfleet",
        abstract: "Self-hosted certificate lifecycle service.",
        subcommands: [
            Migrate.self, WorkerCommand.self, SchedulerCommand.self, APICommand.self, KeysCommand.self, Bench.self,
            CertsCommand.self, JobsCommand.self, CertificateCommand.self, DNSCommand.self, TargetsCommand.self, AgentCommand.self,
        ])
}
