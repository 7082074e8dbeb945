import Foundation
import Testing

@testable import Store

/// A generated `<common name>-xxxxx` that happens to be taken is drawn again; a name the
/// caller chose is never replaced.
struct GeneratedNameTests {
    actor Attempts {
        var names: [String] = []
        func add(_ name: String) -> Int { names.append(name); return names.count }
    }

    @Test func aTakenGeneratedNameIsDrawnAgain() async throws {
        let attempts = Attempts()
        let name = try await Submissions.insertNamed(nil, commonName: "api.example.com") { name in
            await attempts.add(name) > 2 // the first two names are "taken"
        }
        let tried = await attempts.names
        #expect(tried.count == 3)
        #expect(name == tried.last)
        #expect(Set(tried).count == 3, "each attempt draws a new suffix: \(tried)")
        #expect(tried.allSatisfy { $0.hasPrefix("api.example.com-") })
    }

    @Test func aChosenNameThatIsTakenIsAnError() async throws {
        let attempts = Attempts()
        await #expect(throws: StoreError.self) {
            _ = try await Submissions.insertNamed("mine", commonName: "api.example.com") { name in
                _ = await attempts.add(name)
                return false
            }
        }
        #expect(await attempts.names == ["mine"])
    }
}
