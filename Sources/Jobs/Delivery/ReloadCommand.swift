import CertFleetCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A reload command (`nginx -s reload`, `systemctl reload haproxy`) run through `/bin/sh -c`.
/// Foundation's `Process` starts it as the leader of its own process group, so a timeout
/// kills the group: the shell and everything it started.
struct ReloadCommand: Sendable {
    let command: String
    let timeout: Duration

    /// The command's output (trimmed) when it exits 0; `reload_failed` with its exit status
    /// and output otherwise; `reload_timeout` when it outlives TIMEOUT.
    func run(environment extra: [String: String]) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-reload-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        // A file, not a pipe: a child left running must not keep us waiting for EOF.
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw DeliveryFailure(.reloadFailed, "could not start the reload command: \(error)")
        }
        try? handle.close()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let text = ((try? String(contentsOf: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if process.isRunning {
            let pid = process.processIdentifier
            // The whole group only when the command leads its own (never ours).
            if getpgid(pid) == pid { kill(-pid, SIGKILL) }
            kill(pid, SIGKILL)
            process.waitUntilExit()
            throw DeliveryFailure(.reloadTimeout, "the reload command ran longer than \(timeout) and was killed\(text.isEmpty ? "" : ": \(text)")")
        }
        guard process.terminationStatus == 0 else {
            throw DeliveryFailure(.reloadFailed, "the reload command exited with \(process.terminationStatus)\(text.isEmpty ? "" : ": \(text)")")
        }
        return String(text.prefix(300))
    }
}
