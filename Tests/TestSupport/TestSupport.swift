import Foundation
import Glibc
import Synchronization

/// Helpers shared by the integration test targets: where the checkout is,
/// which services the local stack exposes, and running the stack's scripts.
public enum TestStack {
    /// The checkout root, found from this file's path.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Tests/TestSupport/TestSupport.swift
        return url
    }()

    /// An environment variable, or a default that matches `deploy/local`.
    public static func env(_ name: String, default value: String) -> String {
        ProcessInfo.processInfo.environment[name] ?? value
    }

    /// CERTFLEET_KEEP_TEST_LOGS=1: test helpers keep their process logs and data for a post-mortem.
    public static var keepTestLogs: Bool { env("CERTFLEET_KEEP_TEST_LOGS", default: "") == "1" }

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
    public static func ctl(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        try await run(root.appendingPathComponent("deploy/local/ctl").path, arguments, environment: environment)
    }

    /// Runs a program to completion and returns its standard output.
    ///
    /// The wait is on a thread of its own: all suites share one process whose cooperative
    /// pool has a thread per core (two in CI), and a service start blocking one of them for
    /// seconds stalled every other test's requests and timers with it.
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runWaiting(program, arguments, environment: environment) })
            }
        }
    }

    /// `run`, waiting on the calling thread: only for a quick tool (openssl) in a synchronous
    /// fixture; a service's start or stop goes through `run` or `ctl`.
    ///
    /// posix_spawn + waitpid rather than Foundation's `Process`: inside the test runner
    /// `Process.waitUntilExit` may never return for a script that leaves a daemon behind,
    /// and output goes to files because a daemon may inherit and hold a pipe open.
    /// The child gets an empty signal mask (the runner blocks most signals, and a server
    /// started with them blocked would ignore SIGTERM).
    @discardableResult
    public static func runWaiting(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cf-\(UUID().uuidString)")
        let outputPath = base.path + ".out", errorPath = base.path + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outputPath)
            try? FileManager.default.removeItem(atPath: errorPath)
        }
        let child = try ChildProcess(program, arguments, environment: environment, output: outputPath, error: errorPath)
        let exitCode = child.waitForExit()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard exitCode == 0 else {
            throw CommandFailed(
                command: ([program] + arguments).joined(separator: " "), status: exitCode,
                standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
        }
        return output
    }

    /// Runs BODY with RESOURCE and then TEARDOWN, also when BODY throws: a failed test must
    /// not leave its processes, databases or clusters behind.
    public static func using<Resource>(
        _ resource: Resource, tearDown: (Resource) async -> Void,
        _ body: (Resource) async throws -> Void
    ) async throws {
        do {
            try await body(resource)
        } catch {
            await tearDown(resource)
            throw error
        }
        await tearDown(resource)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now and that no other caller in
    /// this process was given: suites start their private services in parallel, and a port
    /// chosen twice before either service bound it made one of them fail ("already in use").
    public static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000..<32000)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if !isListening(port: port) { return port }
        }
        preconditionFailure("no free port among 200 tries in 20000..<32000")
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// True when something accepts TCP connections on 127.0.0.1:PORT.
    /// A connect on loopback is answered at once (accepted or refused), so this never waits.
    public static func isListening(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
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

/// A child process spawned with posix_spawn: an empty signal mask and default
/// dispositions for the termination signals, stdin from /dev/null, output to files.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `status` is only written under `lock`.
    public let pid: pid_t
    private var status: Int32?
    private let lock = NSLock()

    public init(_ program: String, _ arguments: [String], environment: [String: String] = [:], output: String, error: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let error {
            posix_spawn_file_actions_addopen(&actions, 2, error, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else of the test runner's leaks into the child: an inherited listening
        // socket (the ACME tests' http-01 responder) would otherwise stay bound for as long
        // as the child lives.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let fd = Int32(entry), fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw CommandFailed(command: program, status: -1, standardError: String(cString: strerror(spawned)))
        }
        self.pid = pid
    }

    /// True until the child exited (reaps it without blocking).
    public var isRunning: Bool { poll(blocking: false) == nil }

    /// Blocks until the child exits; its exit code (128 + signal when killed). Only right
    /// after SIGKILL: a child that takes its time is awaited with `exitCode()`.
    @discardableResult
    public func waitForExit() -> Int32 { poll(blocking: true)! }

    /// Waits, on a thread of its own (see `TestStack.run`), until the child exits; its exit code.
    @discardableResult
    public func exitCode() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.waitForExit()) }
        }
    }

    /// Sends SIGNAL (no effect once the child exited).
    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    private func poll(blocking: Bool) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while result == -1 && errno == EINTR
        guard result == pid else { return nil }
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        return code
    }
}

/// A self-signed server certificate made by the OpenSSL CLI, its EC P-256 key, and a
/// second key that does not belong to it (for key-mismatch cases).
public struct SelfSignedFixture: Sendable {
    public let chain: String
    public let key: String
    public let otherKey: String

    /// SUBJECT like `/CN=api.example.com/O=Test`; SANS like `DNS:a.example.com,DNS:*.a.example.com`.
    public static func make(subject: String, sans: String) throws -> SelfSignedFixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        for name in ["good", "other"] {
            try TestStack.runWaiting(
                "/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("\(name).key")])
        }
        try TestStack.runWaiting(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-new", "-key", path("good.key"), "-subj", subject, "-days", "365",
                "-addext", "subjectAltName=\(sans)", "-addext", "extendedKeyUsage=serverAuth", "-out", path("good.crt"),
            ])
        func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }
        return SelfSignedFixture(chain: try read("good.crt"), key: try read("good.key"), otherKey: try read("other.key"))
    }
}

extension SelfSignedFixture {
    /// A self-signed CA certificate (basicConstraints CA:TRUE, from OpenSSL's default
    /// `v3_ca` section), PEM: a client CA for two-way TLS.
    public static func makeCA(subject: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-ca-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("ca.key").path, crt = dir.appendingPathComponent("ca.crt").path
        try TestStack.runWaiting(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                "-subj", subject, "-days", "365",
            ])
        return try String(contentsOfFile: crt, encoding: .utf8)
    }
}
