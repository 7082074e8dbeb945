import Foundation

extension TestStack {
    /// The git-ignored virtual environment the tests install PyPI tools into.
    public static var testVirtualEnvironment: URL { root.appendingPathComponent(".venv-schemathesis") }

    /// A Python that can `import MODULE`: the system's when it already can, otherwise the
    /// test virtual environment's (created, and PACKAGE installed from PyPI, when missing).
    public static func python(importing module: String, package: String) async throws -> String {
        let system = "/usr/bin/python3"
        if (try? await runDetached(system, ["-c", "import \(module)"])) != nil { return system }
        return try await virtualEnvironmentPython(importing: module, package: package)
    }

    /// The test virtual environment's Python, with PACKAGE installed when MODULE does not import.
    public static func virtualEnvironmentPython(importing module: String, package: String) async throws -> String {
        let python = testVirtualEnvironment.appendingPathComponent("bin/python3").path
        if !FileManager.default.isExecutableFile(atPath: python) {
            try await runDetached("/usr/bin/python3", ["-m", "venv", testVirtualEnvironment.path])
        }
        if (try? await runDetached(python, ["-c", "import \(module)"])) == nil {
            try await runDetached(python, ["-m", "pip", "install", "--quiet", package])
        }
        return python
    }
}

