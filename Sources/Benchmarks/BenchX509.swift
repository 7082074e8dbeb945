import ArgumentParser
import Foundation
import X509

/// `certfleet bench x509`: bundle inspections/s, ES256 JWS signatures/s and
/// RSA-2048 key generations/s, next to `openssl speed ecdsap256` measured in
/// the same run (the target is ES256 signing at >= 0.8 of OpenSSL's raw rate).
struct BenchX509: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "x509", abstract: "Benchmark the X509 module.")

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 3

    @Option(help: "The openssl executable for the baseline and the fixture.")
    var openssl: String = "/usr/bin/openssl"

    func run() async throws {
        let bundle = try makeBundle()
        report(
            "X509 benchmark, \(seconds) s per measurement, one thread; rates per second of user CPU time (as openssl speed counts) and of wall time")

        let inspections = try rate(seconds) {
            _ = try CertificateBundle.parse(pem: bundle).details()
        }
        report("bundle inspections/s    \(format(inspections))  (RSA-2048 leaf + P-256 intermediate + key: PEM, order, verify, details)")

        let key = try PrivateKey.generate(.ecP256)
        let input = Array(String(repeating: "eyJhbGciOiJFUzI1NiJ9.", count: 14).utf8) // a typical ACME signing input (~300 bytes)
        let signs = try rate(seconds) { _ = try JWS.signature(signingInput: input, key: key) }
        report("ES256 JWS signatures/s  \(format(signs))")

        let keygens = try rate(seconds, minimumIterations: 3) { _ = try PrivateKey.generate(.rsa2048) }
        report("RSA-2048 keygens/s      \(format(keygens))")

        let baseline = try opensslSpeed()
        report("openssl speed ecdsap256 \(format(baseline)) signs/s per user CPU second (`openssl speed -seconds \(Int(seconds)) ecdsap256`)")
        let ratio = signs.cpu / baseline
        report("ES256 ratio             \(String(format: "%.2f", ratio))  (CPU rate / openssl; target >= 0.80: \(ratio >= 0.8 ? "met" : "NOT met"))")
    }

    /// Operations per second of `body`, run for `seconds` of wall time, per
    /// wall-clock second and per second of this thread's user CPU time. The
    /// latter is what `openssl speed` divides by (unless `-elapsed`), so it is
    /// the fair figure on a machine others are using too.
    private func rate(_ seconds: Double, minimumIterations: Int = 100, _ body: () throws -> Void) throws -> (wall: Double, cpu: Double) {
        try body() // warm up caches and OpenSSL's algorithm fetch
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = threadUserTime()
        let limit = Duration.milliseconds(Int64(seconds * 1000))
        var count = 0
        while count < minimumIterations || clock.now - start < limit {
            try body()
            count += 1
        }
        let elapsed = clock.now - start
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(count) / wall, Double(count) / max(threadUserTime() - cpuStart, 1e-9))
    }

    /// CPU seconds of the calling thread (the loop above never suspends, so it
    /// stays on one thread; the loops make no system calls, so this is user time).
    private func threadUserTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private func report(_ line: String) {
        // Unbuffered, so progress shows even when piped.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func format(_ value: Double) -> String {
        String(format: value >= 100 ? "%10.0f" : "%10.1f", value)
    }

    private func format(_ value: (wall: Double, cpu: Double)) -> String {
        "\(format(value.cpu)) CPU \(format(value.wall)) wall"
    }

    /// Runs `openssl speed` and reads the ECDSA P-256 sign/s column of its summary table,
    /// e.g. ` 256 bits ecdsa (nistp256)   0.0000s   0.0001s  38657.3  12601.9`.
    private func opensslSpeed() throws -> Double {
        let output = try runTool(openssl, ["speed", "-seconds", "\(max(1, Int(seconds)))", "ecdsap256"], unblockSignals: true)
        guard let line = output.split(separator: "\n").last(where: { $0.contains("nistp256") && $0.contains("ecdsa") }) else {
            throw BenchFailure("no ECDSA P-256 line in `openssl speed` output:\n\(output)")
        }
        let numbers = line.split(separator: " ").compactMap { Double($0) }
        guard numbers.count >= 2 else { throw BenchFailure("cannot read `openssl speed` line: \(line)") }
        return numbers[numbers.count - 2]
    }

    /// A leaf (RSA-2048), its P-256 intermediate and the leaf key, made with the OpenSSL CLI.
    private func makeBundle() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let extensions =
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n[leaf]\nbasicConstraints=CA:FALSE\n"
            + "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:bench.example.com,DNS:*.bench.example.com\n"
        try extensions.write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
        try runTool(
            openssl,
            [
                "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", path("root.key"), "-subj", "/CN=Bench Root", "-days", "30", "-out", path("root.crt"),
            ])
        try runTool(
            openssl,
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", path("int.key"), "-subj", "/CN=Bench Intermediate", "-out", path("int.csr"),
            ])
        try runTool(
            openssl,
            [
                "x509", "-req", "-in", path("int.csr"), "-CA", path("root.crt"), "-CAkey", path("root.key"),
                "-set_serial", "2", "-days", "30", "-extfile", path("ext.cnf"), "-extensions", "ca", "-out", path("int.crt"),
            ])
        try runTool(
            openssl,
            [
                "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("leaf.key"),
                "-subj", "/C=US/O=Bench/CN=bench.example.com", "-out", path("leaf.csr"),
            ])
        try runTool(
            openssl,
            [
                "x509", "-req", "-in", path("leaf.csr"), "-CA", path("int.crt"), "-CAkey", path("int.key"),
                "-set_serial", "3", "-days", "30", "-extfile", path("ext.cnf"), "-extensions", "leaf", "-out", path("leaf.crt"),
            ])
        return try ["leaf.crt", "int.crt", "leaf.key"].map { try String(contentsOfFile: path($0), encoding: .utf8) }.joined()
    }

    @discardableResult
    private func runTool(_ program: String, _ arguments: [String], unblockSignals: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        if unblockSignals {
            // Swift's executor threads block signals and a spawned child inherits
            // the mask; `openssl speed` ends each test on SIGALRM and would never
            // stop. Unblock on this thread just for the spawn.
            var all = sigset_t(), previous = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_UNBLOCK, &all, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            try process.run()
        } else {
            try process.run()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchFailure("`\(program) \(arguments.joined(separator: " "))` exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
