import CertFleetCore
import Foundation

/// A certificate document (the API's JSON) as the values of the certificate page.
struct CertificatePageView {
    let document: CertificateReader.Document

    var values: [String: Any] {
        let json = document.json.resolvingRaw()
        var values = ConsoleViews.values([
            ("name", document.name), ("state", document.state), ("subject", Self.text(json["subject"])),
            ("issuer", Self.text(json["issuer"])), ("serial", Self.text(json["serial_number"])),
            ("notBefore", Self.date(json["not_before"])), ("notAfter", Self.date(json["not_after"])),
            ("daysLeft", ConsoleViews.daysLeft(document.notAfter).map(String.init) ?? "—"),
            ("renewAt", Self.date(json["renew_at"])), ("source", document.source), ("usage", document.usage),
            ("tlsType", document.twoWay ? "two-way" : "one-way"), ("version", document.currentVersion.map(String.init) ?? "none yet"),
            ("ca", Self.text(json["ca"]?["account"])), ("caURL", Self.text(json["ca"]?["directory_url"])),
            ("key", Self.keyText(json["key"])),
        ])
        values["sans"] = document.sans
        values["bindings"] = (json["service_groups"].map(Self.items) ?? []).compactMap { Self.text($0["name"]) }
        if let code = Self.text(json["error"]?["code"]) {
            values["error"] = ["code": code, "message": Self.text(json["error"]?["message"]) ?? ""]
        }
        if let info = json["renewal_info"], let start = Self.date(info["window_start"]) {
            values["ari"] = ["start": start, "end": Self.date(info["window_end"]) ?? ""]
        }
        let chain = json["chain"].map(Self.items) ?? []
        values["chain"] = chain.enumerated().map { index, entry -> [String: Any] in
            [
                "index": index, "subject": Self.name(entry["subject"]), "issuer": Self.name(entry["issuer"]),
                "until": Self.date(entry["validity"]?["until"]) ?? "",
            ]
        }
        let lint = (json["lint"].map(Self.items) ?? []).map(Self.finding)
        values["lint"] = lint
        values["hasLint"] = !lint.isEmpty
        return values
    }

    static func items(_ value: JSONValue) -> [JSONValue] {
        if case .array(let items) = value { return items }
        return []
    }

    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: return text
        case .number(let number)?: return number == number.rounded() ? String(Int(number)) : String(number)
        case .bool(let flag)?: return String(flag)
        default: return nil
        }
    }

    static func date(_ value: JSONValue?) -> String? {
        text(value).flatMap(RFC3339.parse).map(ConsoleViews.date)
    }

    /// Unit's key description (`RSA (2048 bits)`) or the parts of an object.
    static func keyText(_ value: JSONValue?) -> String? {
        if let text = text(value) { return text }
        guard case .object(let members)? = value else { return nil }
        return members.compactMap { key, value in text(value).map { "\(key): \($0)" } }.joined(separator: ", ")
    }

    /// `CN=…, O=…` from a subject or issuer object.
    static func name(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        var parts: [String] = []
        if let cn = text(value["common_name"]) { parts.append("CN=\(cn)") }
        if let organization = text(value["organization"]) { parts.append("O=\(organization)") }
        if let country = text(value["country"]) { parts.append("C=\(country)") }
        return parts.joined(separator: ", ")
    }

    /// A lint finding as one line: its severity, code and message when it has them.
    static func finding(_ value: JSONValue) -> String {
        if let text = text(value) { return text }
        let parts = ["severity", "level", "code", "message"].compactMap { text(value[$0]) }
        return parts.isEmpty ? value.serialized() : parts.joined(separator: " · ")
    }
}
