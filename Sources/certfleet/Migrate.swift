import ArgumentParser

/// `certfleet migrate`: applies schemas/migrations/*.sql in order, once.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")
    func run() async throws { throw ValidationError("not written yet") }
}
