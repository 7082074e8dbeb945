import Foundation

/// lego's `exec` provider contract, so existing lego scripts work unchanged:
/// `command present|cleanup <fqdn> <value>`, or in RAW mode `command present|cleanup <domain> <token> <keyAuth>`.
/// The hook gets `env` (its credentials) in its environment, runs at most `timeout`, and a non-zero
/// exit ends the job with `dns_hook_exit` and its stderr (secret values blanked).
public struct ExecHookProvider: DNS01Provider {
    public var command: String
    public var raw: Bool
    public var timeout: Duration
    /// Extra environment (secrets such as provider API tokens): never logged or shown.
    public var environment: [String: String]

    public init(command: String, raw: Bool = false, timeout: Duration = .seconds(60), environment: [String: String] = [:]) {
        self.command = command
        self.raw = raw
        self.timeout = timeout
        self.environment = environment
    }

    public func createRecord(name: String, value: String) async throws {
        try await run(["present", name, value])
    }

    public func deleteRecord(name: String, value: String) async throws {
        try await run(["cleanup", name, value])
    }

    public func present(_ task: ChallengeTask, name: String, value: String) async throws {
        try await run(raw ? ["present", Self.domain(task), task.token, task.keyAuthorization] : ["present", name, value])
    }

    public func cleanUp(_ task: ChallengeTask, name: String, value: String) async throws {
        try await run(raw ? ["cleanup", Self.domain(task), task.token, task.keyAuthorization] : ["cleanup", name, value])
    }

    public func canWrite(name: String) async -> DNS01Failure? {
        FileManager.default.isExecutableFile(atPath: command)
            ? nil
            : DNS01Failure(code: "dns_hook_missing", message: "the exec hook \(command) is not an executable file")
    }

    static func domain(_ task: ChallengeTask) -> String {
        task.identifier.value.hasPrefix("*.") ? String(task.identifier.value.dropFirst(2)) : task.identifier.value
    }

    func run(_ arguments: [String]) async throws {
        let outcome: HookProcess.Outcome
        do {
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CERTFLEET_") }
            env.merge(environment) { $1 }
            outcome = try await HookProcess.run(command, arguments, environment: env, timeout: timeout)
        } catch {
            throw DNS01Failure(code: "dns_hook_failed", message: "the exec hook \(command) could not be started: \(error)")
        }
        let stderr = Redactor(secrets: Array(environment.values)).clean(outcome.standardError)
        switch outcome.status {
        case .exited(0): return
        case .exited(let code):
            throw DNS01Failure(code: "dns_hook_exit", message: "the exec hook \(command) \(arguments[0]) exited \(code): \(stderr)")
        case .timedOut:
            throw DNS01Failure(
                code: "dns_hook_timeout", message: "the exec hook \(command) \(arguments[0]) ran longer than \(timeout) and was killed")
        case .signalled(let signal):
            throw DNS01Failure(code: "dns_hook_exit", message: "the exec hook \(command) \(arguments[0]) died of signal \(signal): \(stderr)")
        }
    }
}

/// Blanks secret values out of text a hook or server printed (it may echo its credentials).
struct Redactor {
    let secrets: [String]

    func clean(_ text: String) -> String {
        var out = text
        for secret in secrets where secret.count >= 4 { out = out.replacingOccurrences(of: secret, with: "***") }
        // Printable, one line, bounded: the job's error is shown in the API.
        let printable = String(out.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : " " })
        return String(printable.trimmingCharacters(in: .whitespaces).prefix(500))
    }
}
