import Foundation

/// Runs a hook program to completion or until a timeout (then SIGTERM, SIGKILL 2 s later),
/// its output in temporary files: a pipe held open by a grandchild would never reach EOF.
enum HookProcess {
    enum Status: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }

    struct Outcome: Sendable {
        var status: Status
        var standardError: String
    }

    static func run(_ program: String, _ arguments: [String], environment: [String: String], timeout: Duration) async throws -> Outcome {
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-hook-\(UUID().uuidString).err")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errorHandle = try FileHandle(forWritingTo: errorFile)
        defer { try? errorHandle.close() }
        process.standardError = errorHandle
        let finished = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in finished.continuation.finish() }
        try process.run()
        let timedOut = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in finished.stream {}
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            if first {
                // Only the hook we started, by its pid.
                process.terminate()
                try? await Task.sleep(for: .seconds(2))
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            group.cancelAll()
            return first
        }
        let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        if timedOut { return Outcome(status: .timedOut, standardError: stderr) }
        let status: Status = process.terminationReason == .uncaughtSignal ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
        return Outcome(status: status, standardError: stderr)
    }
}
