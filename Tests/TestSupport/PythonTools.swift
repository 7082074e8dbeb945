import Foundation

extension TestStack {
    /// The git-ignored virtual environment with the PyPI tools of deploy/local/python-tools.txt.
    public static var toolsEnvironment: URL { root.appendingPathComponent(".venv-tools") }

    /// The tools environment's Python. `deploy/local/test` prepares the environment before
    /// any suite starts; a test run on its own goes through the same script, which builds
    /// under a file lock, so parallel suites never create it at the same moment.
    public static func toolsPython() async throws -> String {
        let script = root.appendingPathComponent("deploy/local/python-tools").path
        return try await run(script, []).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The path of a console script (e.g. `st`) installed in the tools environment.
    public static func toolsExecutable(_ name: String) async throws -> String {
        _ = try await toolsPython()
        return toolsEnvironment.appendingPathComponent("bin/\(name)").path
    }
}
