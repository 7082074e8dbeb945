import Foundation

/// Helpers shared by the integration test targets: where the checkout is,
/// which services the local stack exposes, and running the stack's scripts.
public enum TestStack {
    /// The checkout root, found from this file's path.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/TestSupport.swift
        return url
    }()

    /// An environment variable, or a default that matches `deploy/local`.
    public static func env(_ name: String, default value: String) -> String {
        ProcessInfo.processInfo.environment[name] ?? value
    }

    /// The PostgreSQL URL of the local stack (`deploy/local/test` exports it).
    public static var databaseURL: String {
        env("CERTFLEET_DATABASE_URL", default: "postgres://certfleet@127.0.0.1:55432/certfleet")
    }

    /// The AMQP URL of the local stack.
    public static var amqpURL: String {
        env("CERTFLEET_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:55672/")
    }

    /// Runs `deploy/local/ctl ARGS` with extra environment and returns its standard output.
    /// Throws when the script exits non-zero; its standard error is in the error.
    @discardableResult
    public static func ctl(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        try run(root.appendingPathComponent("deploy/local/ctl").path, arguments, environment: environment)
    }

    /// Runs a program to completion and returns its standard output.
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        // Files, not pipes: a daemon started by the script may inherit a pipe's write
        // end and keep it open forever, so reading a pipe to EOF would never return.
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("cf-\(UUID().uuidString).out")
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("cf-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputFile)
            try? FileManager.default.removeItem(at: errorFile)
        }
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let output = (try? Data(contentsOf: outputFile)) ?? Data()
        guard process.terminationStatus == 0 else {
            let errors = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw CommandFailed(
                command: ([program] + arguments).joined(separator: " "),
                status: process.terminationStatus,
                standardError: errors)
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20000..<30000)
            if !isListening(port: port) { return port }
        }
        return Int.random(in: 30000..<32000)
    }

    /// True when something accepts TCP connections on 127.0.0.1:PORT.
    public static func isListening(port: Int) -> Bool {
        (try? run("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"])) != nil
    }

    /// A fresh directory under the git-ignored service directory, for a private service instance.
    public static func privateStackDirectory(_ name: String) -> URL {
        let url = root.appendingPathComponent(".stack/tests/\(name)-\(UUID().uuidString.prefix(8).lowercased())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A command run by the tests exited non-zero.
public struct CommandFailed: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public let standardError: String
    public var description: String { "`\(command)` exited \(status): \(standardError)" }
}
