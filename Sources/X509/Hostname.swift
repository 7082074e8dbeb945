import Foundation

/// Hostname matching for SNI lookup and SAN checks, following RFC 6125
/// section 6.4: exact match, or one `*` forming the whole left-most label
/// that stands for exactly one label; comparison is case-insensitive over
/// IDNA A-labels; IP addresses match only IP SANs, byte for byte.
public enum Hostname {
    /// How a name matched; exact beats wildcard when choosing a certificate.
    public enum MatchKind: Int, Sendable, Hashable, Comparable, Codable {
        case exact = 0
        case wildcard = 1

        public static func < (a: MatchKind, b: MatchKind) -> Bool { a.rawValue < b.rawValue }
    }

    /// The comparison form of a DNS name: U-labels converted to A-labels
    /// (`xn--…`), lower case, no trailing dot. Nil when `name` is not a valid
    /// host name (empty labels, characters other than letters, digits and
    /// inner hyphens, a label over 63 or a name over 253 octets).
    /// A wildcard label is not a host name; see ``normalizePattern(_:)``.
    public static func normalize(_ name: String) -> String? {
        var text = name
        if text.hasSuffix(".") { text.removeLast() }
        guard !text.isEmpty else { return nil }
        var labels: [String] = []
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard let ascii = aLabel(label) else { return nil }
            labels.append(ascii)
        }
        let result = labels.joined(separator: ".")
        return result.utf8.count <= 253 ? result : nil
    }

    /// The comparison form of a certificate name: a host name, or `*.` plus a
    /// host name of at least two labels (so `*.com` is refused). Nil for
    /// anything else, including partial-label wildcards such as `f*.example.com`.
    public static func normalizePattern(_ pattern: String) -> String? {
        guard pattern.hasPrefix("*.") else { return pattern.contains("*") ? nil : normalize(pattern) }
        let rest = String(pattern.dropFirst(2))
        guard !rest.contains("*"), let base = normalize(rest), base.contains(".") else { return nil }
        return "*." + base
    }

    /// Whether `hostname` matches the certificate name `pattern`.
    public static func matches(_ hostname: String, pattern: String) -> MatchKind? {
        if let address = IPAddress.parse(hostname) {
            return IPAddress.parse(pattern) == address ? .exact : nil
        }
        guard let host = normalize(hostname), let normalizedPattern = normalizePattern(pattern) else { return nil }
        if host == normalizedPattern { return .exact }
        guard normalizedPattern.hasPrefix("*.") else { return nil }
        // The wildcard stands for exactly one whole label: a.example.com, not example.com or a.b.example.com.
        guard let dot = host.firstIndex(of: "."), dot != host.startIndex else { return nil }
        return host[host.index(after: dot)...] == normalizedPattern.dropFirst(2) ? .wildcard : nil
    }

    /// The best match of `hostname` among a certificate's `names` (its SANs).
    public static func match(_ hostname: String, against names: [String]) -> MatchKind? {
        names.compactMap { matches(hostname, pattern: $0) }.min()
    }

    /// One label as an A-label, or nil when invalid.
    private static func aLabel(_ label: Substring) -> String? {
        let isASCII = label.unicodeScalars.allSatisfy(\.isASCII)
        let ascii: String
        if isASCII {
            ascii = label.lowercased()
        } else {
            // IDNA: compare in NFC, lower case, then Punycode (RFC 3492).
            let folded = String(label).lowercased().precomposedStringWithCanonicalMapping
            guard let encoded = Punycode.encode(Array(folded.unicodeScalars)) else { return nil }
            ascii = "xn--" + encoded
        }
        let bytes = Array(ascii.utf8)
        guard !bytes.isEmpty, bytes.count <= 63, bytes.first != 0x2D, bytes.last != 0x2D else { return nil }
        let ldh = bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        return ldh ? ascii : nil
    }
}

/// RFC 3492 Punycode encoding, for IDNA A-labels.
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700

    static func encode(_ input: [Unicode.Scalar]) -> String? {
        var output: [UInt8] = input.filter(\.isASCII).map { UInt8($0.value) }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append(0x2D) }
        var n = 128, delta = 0, bias = 72
        while handled < input.count {
            guard let m = input.map({ Int($0.value) }).filter({ $0 >= n }).min() else { return nil }
            let (step, overflow) = (m - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow, delta <= Int(Int32.max) - step else { return nil }
            delta += step
            n = m
            for scalar in input {
                let c = Int(scalar.value)
                if c < n { delta += 1 }
                guard c == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, handled + 1, handled == basicCount)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func digit(_ d: Int) -> UInt8 { d < 26 ? UInt8(0x61 + d) : UInt8(0x30 + d - 26) }

    private static func adapt(_ delta: Int, _ points: Int, _ first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
