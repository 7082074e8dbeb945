import ArgumentParser
import CertFleetOptions
import Foundation
import Postgres
import Store
import X509

/// Seeds `certfleet bench scale`'s database: a real two-certificate chain (an RSA-2048 CA and
/// an ECDSA leaf), its key sealed with the bench's master key, and the parsed details the
/// validate job would store, copied into every version by `ScaleSeed`.
struct ScaleSeeder {
    let seed: ScaleSeed
    let db: PostgresClient
    /// Certificates seeded so far (certificate `i` for i in 0..<seeded).
    private(set) var seeded = 0

    init(db: PostgresClient, projects: [UUID], sealer: KeySealer) throws {
        self.db = db
        seed = ScaleSeed(db: db, projects: projects, template: try Self.template(sealer: sealer))
    }

    /// Grows the fleet to SIZE certificates; returns the rows written and the seconds taken.
    mutating func grow(to size: Int) async throws -> (rows: Int, seconds: Double) {
        guard size > seeded else { return (0, 0) }
        let start = ContinuousClock.now
        var rows = 0
        // Chunks of 100k: one statement per table and chunk, progress visible at a million.
        for from in stride(from: seeded, to: size, by: 100_000) {
            rows += try await seed.seed(from: from, to: min(from + 100_000, size))
        }
        try await ScaleSeed.rebuildCounts(db)
        seeded = size
        return (rows, durationSeconds(ContinuousClock.now - start))
    }

    static func template(sealer: KeySealer) throws -> ScaleSeed.Template {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-scale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try runTool(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
                "-subj", "/C=DE/O=CertFleet Bench/CN=CertFleet Bench CA", "-days", "3650",
            ])
        try runTool(
            "openssl",
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("leaf.key"),
                "-out", path("leaf.csr"), "-subj", "/CN=h0.z0.example.net",
            ])
        try "subjectAltName=DNS:h0.z0.example.net,DNS:www.h0.z0.example.net\nextendedKeyUsage=serverAuth\n"
            .write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
        try runTool(
            "openssl",
            [
                "x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("leaf.pem"), "-days", "90", "-extfile", path("ext.cnf"),
            ])
        let chain = try String(contentsOfFile: path("leaf.pem"), encoding: .utf8) + String(contentsOfFile: path("ca.pem"), encoding: .utf8)
        let key = try String(contentsOfFile: path("leaf.key"), encoding: .utf8)
        let bundle = try CertificateBundle.parse(chain: chain, key: key)
        let sealed = try sealer.seal(Array(key.utf8), context: KeySealer.certificateKeyContext(certificate: UUID(), version: 2))
        return ScaleSeed.Template(
            chainPEM: chain, sealedKey: sealed.sealed, masterKeyID: sealed.keyID,
            detailsJSON: try PostgresJSON(encoding: bundle.details()).text)
    }
}

func durationSeconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
