/// The naming rule for certificates uploaded or issued without a name:
/// `<common name>-<5 random lowercase alphanumerics>`, as Unikraft Cloud does.
public enum CertificateName {
    public static let suffixAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    /// Names longer than this are refused by the API; generated ones are cut to fit.
    public static let maxLength = 128

    /// A generated name for COMMONNAME. A leading `*.` is cut (`*.example.com` →
    /// `example.com-k3x9a`); anything but `a-z 0-9 . -` becomes `-`, so the name is
    /// DNS-safe and usable in URLs and file names.
    public static func generate<R: RandomNumberGenerator>(commonName: String, using generator: inout R) -> String {
        var base = commonName.lowercased()
        if base.hasPrefix("*.") { base.removeFirst(2) }
        var safe = String(
            base.map { char -> Character in
                (char.isASCII && (char.isLetter || char.isNumber)) || char == "." || char == "-" ? char : "-"
            })
        while safe.hasPrefix("-") || safe.hasPrefix(".") { safe.removeFirst() }
        while safe.hasSuffix("-") || safe.hasSuffix(".") { safe.removeLast() }
        if safe.isEmpty { safe = "certificate" }
        safe = String(safe.prefix(maxLength - 6))
        let suffix = String((0..<5).map { _ in suffixAlphabet.randomElement(using: &generator)! })
        return "\(safe)-\(suffix)"
    }

    public static func generate(commonName: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(commonName: commonName, using: &generator)
    }

    /// True when NAME is acceptable as a user-given name: 1…128 characters of
    /// `A-Z a-z 0-9 . _ -`, not starting with a dot or dash (no path tricks).
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= maxLength, let first = name.first, first != ".", first != "-" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }
}
