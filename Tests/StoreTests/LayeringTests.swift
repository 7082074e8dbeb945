import Foundation
import TestSupport
import Testing

/// The layering rule of the code base, checked on the sources themselves: only Store (and
/// Postgres itself, and the executable's wiring and benchmarks) may import Postgres; API and
/// Scheduler do not depend on the job handlers.
@Suite struct LayeringTests {
    /// Every `.swift` file under Sources/MODULE with the modules it imports.
    func imports(of module: String) throws -> [(file: String, modules: Set<String>)] {
        let directory = TestStack.root.appendingPathComponent("Sources/\(module)")
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        var found: [(String, Set<String>)] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            let modules = text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard words.count >= 2, words[0] == "import" || (words[0].hasPrefix("@") && words.count >= 3 && words[1] == "import") else {
                    return nil
                }
                return String(words[words[0] == "import" ? 1 : 2])
            }
            found.append((url.path.replacingOccurrences(of: TestStack.root.path + "/", with: ""), Set(modules)))
        }
        return found
    }

    @Test func onlyStoreImportsPostgres() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: TestStack.root.appendingPathComponent("Sources").path)
        // The wiring, its shared options, and the benchmarks that measure the Postgres wrapper itself.
        let allowed: Set<String> = ["Store", "Postgres", "CLibPQ", "certfleet", "CertFleetOptions", "Benchmarks"]
        var offenders: [String] = []
        for module in modules where !allowed.contains(module) {
            offenders += try imports(of: module).filter { $0.modules.contains("Postgres") }.map(\.file)
        }
        #expect(offenders.isEmpty, "outside Store, these files import Postgres (put the query in a Store repository): \(offenders)")
        // The check itself sees imports: Store does import Postgres.
        #expect(try imports(of: "Store").contains { $0.modules.contains("Postgres") })
    }

    @Test func apiAndSchedulerDoNotDependOnJobHandlers() throws {
        let offenders = try (imports(of: "API") + imports(of: "Scheduler") + imports(of: "Messaging"))
            .filter { $0.modules.contains("Jobs") }.map(\.file)
        #expect(offenders.isEmpty, "these files import Jobs (which links the ACME handlers): \(offenders)")
    }
}
