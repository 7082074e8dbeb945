/// A project's zone map: which DNS provider writes the dns-01 record of a name. `example.com`
/// covers the zone and every name below it; `*.corp.example` only the names below
/// `corp.example`, and counts one label longer than `corp.example` (it is the more specific
/// entry for those names). The longest match wins; at equal length the exact zone.
public enum DNSZoneMap {
    /// The provider for NAME (a host name or `*.`-wildcard, any case, trailing dot allowed); nil when no zone matches.
    public static func provider(for name: String, entries: [(zone: String, provider: String)]) -> String? {
        let labels = Self.labels(name.hasPrefix("*.") ? String(name.dropFirst(2)) : name)
        var best: (length: Int, exact: Bool, provider: String)? = nil
        for entry in entries {
            let wildcard = entry.zone.hasPrefix("*.")
            let zone = Self.labels(wildcard ? String(entry.zone.dropFirst(2)) : entry.zone)
            guard !zone.isEmpty, labels.count >= zone.count + (wildcard ? 1 : 0), Array(labels.suffix(zone.count)) == zone else { continue }
            let candidate = (length: zone.count + (wildcard ? 1 : 0), exact: !wildcard, provider: entry.provider)
            if let current = best, current.length > candidate.length || (current.length == candidate.length && (current.exact || !candidate.exact)) {
                continue
            }
            best = candidate
        }
        return best?.provider
    }

    /// A zone pattern is a host name, optionally `*.`-prefixed.
    public static func isValidZone(_ zone: String) -> Bool {
        let bare = zone.hasPrefix("*.") ? String(zone.dropFirst(2)) : zone
        let labels = Self.labels(bare)
        return !labels.isEmpty && !bare.contains("..") && !bare.hasPrefix(".") && bare.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.count) && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
    }

    static func labels(_ name: String) -> [String] {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        return trimmed.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }
}
