import Foundation

/// Validates real messages against `schemas/messages/*.schema.json` with Python's
/// `jsonschema` (draft 2020-12), from the git-ignored `.venv-tools` (deploy/local/python-tools).
public enum MessageSchemas {
    /// Throws when any of MESSAGES (JSON texts) does not match SCHEMA (a file name under
    /// `schemas/messages/`); the error lists each message's verdict.
    public static func validate(_ messages: [String], against schema: String) async throws {
        let python = try await TestStack.toolsPython()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cf-messages-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        // One message per line: re-serialise each without newlines.
        let lines = try messages.map { text -> String in
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]), as: UTF8.self)
        }
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let script = TestStack.root.appendingPathComponent("Tests/Fixtures/schemas/validate_messages.py").path
        let schemaPath = TestStack.root.appendingPathComponent("schemas/messages/\(schema)").path
        do {
            _ = try await TestStack.run(python, [script, schemaPath, file.path])
        } catch let failed as CommandFailed {
            throw SchemaViolation(schema: schema, report: failed.description + "\nmessages:\n" + lines.joined(separator: "\n"))
        }
    }

    public struct SchemaViolation: Error, CustomStringConvertible {
        public let schema: String
        public let report: String
        public var description: String { "messages do not match \(schema):\n\(report)" }
    }
}
