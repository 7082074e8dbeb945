import API
import ArgumentParser
import Foundation

/// `certfleet certs export REF --format env|k8s-secret|files`: the certificate and its key
/// in the shapes other tools read (needs the `keys:export` scope).
struct CertsExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export as Kontena-style env variables, a kubernetes.io/tls Secret, or certbot's files.",
        discussion: """
            env: LE_CERTIFICATE_<DOMAIN>_PRIVATE_KEY, …_CERTIFICATE (--cert-type, default fullchain) and …_BUNDLE \
            (certificate + key), as Kontena stores them. <DOMAIN> is the common name upper-cased with every character \
            that is not a letter or digit (dots, dashes) turned into '_', and a leading '*.' into 'WILDCARD_': \
            api.example.com → LE_CERTIFICATE_API_EXAMPLE_COM_….
            k8s-secret: a kubernetes.io/tls Secret with tls.crt (full chain), tls.key and, for two-way TLS, ca.crt.
            files: fullchain.pem, chain.pem, cert.pem and privkey.pem (mode 0600) in --dir, as certbot lays them out.
            """)

    @OptionGroup var api: APIClientOptions
    @Argument(help: "uuid or name") var reference: String
    @Option(help: "env, k8s-secret or files.") var format: String
    @Option(help: "What …_CERTIFICATE holds for env: fullchain, chain or cert.") var certType: String = "fullchain"
    @Option(help: "Directory for --format files (default ./<name>).") var dir: String?
    @Option(help: "metadata.name of the Secret (default: the certificate's name).") var secretName: String?
    @Option(help: "metadata.namespace of the Secret.") var namespace: String?

    func run() async throws {
        try await runCLI {
            guard ["env", "k8s-secret", "files"].contains(format) else {
                throw CLIError(message: "--format must be env, k8s-secret or files", exit: ExitCode(64))
            }
            guard ["fullchain", "chain", "cert"].contains(certType) else {
                throw CLIError(message: "--cert-type must be fullchain, chain or cert", exit: ExitCode(64))
            }
            let client = try api.client
            let document = try await client.certificate(reference)
            let name = document["name"]?.text ?? reference
            func pem(_ type: String) async throws -> String {
                try await client.call(.GET, "/v1/certificates/\(reference.pathEscaped)/pem?type=\(type)").text
            }
            let key = try await pem("key")
            switch format {
            case "env":
                let prefix = "LE_CERTIFICATE_" + Self.envName(document["common_name"]?.text ?? name)
                let certificate = try await pem(certType)
                for (suffix, value) in [("PRIVATE_KEY", key), ("CERTIFICATE", certificate), ("BUNDLE", certificate + key)] {
                    print("export \(prefix)_\(suffix)=\(Self.shellQuoted(value))")
                }
            case "k8s-secret":
                var data = [("tls.crt", try await pem("fullchain")), ("tls.key", key)]
                if document["tls_type"]?.text == "two-way" { data.append(("ca.crt", try await pem("client_ca"))) }
                print(Self.secretManifest(name: secretName ?? Self.kubernetesName(name), namespace: namespace, data: data), terminator: "")
            default:
                let directory = dir ?? name
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let files = [
                    ("fullchain.pem", try await pem("fullchain"), false), ("chain.pem", try await pem("chain"), false),
                    ("cert.pem", try await pem("cert"), false), ("privkey.pem", key, true),
                ]
                for (file, text, secret) in files { try writeFile(directory + "/" + file, text, secret: secret) }
                if api.json {
                    Output.json(.object(files.map { ($0.0, .string(directory + "/" + $0.0)) }))
                } else {
                    files.forEach { print(directory + "/" + $0.0) }
                }
            }
        }
    }

    /// `api.example.com` → `API_EXAMPLE_COM`; `*.example.com` → `WILDCARD_EXAMPLE_COM`.
    static func envName(_ domain: String) -> String {
        var text = domain
        var prefix = ""
        if text.hasPrefix("*.") {
            text.removeFirst(2)
            prefix = "WILDCARD_"
        }
        return prefix + String(text.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    /// A value for `export NAME=…` that a POSIX shell reads back byte for byte.
    static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A DNS-1123 name for the Secret: lower case, `_` → `-`.
    static func kubernetesName(_ name: String) -> String {
        String(name.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    static func secretManifest(name: String, namespace: String?, data: [(String, String)]) -> String {
        var out = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(name)\n"
        if let namespace { out += "  namespace: \(namespace)\n" }
        out += "type: kubernetes.io/tls\ndata:\n"
        for (key, value) in data { out += "  \(key): \(Data(value.utf8).base64EncodedString())\n" }
        return out
    }
}
