/// A domain name as labels (RFC 1035 section 3.1). Compared case-insensitively;
/// written uncompressed (compression is only ever read), which every server accepts.
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// The labels, leftmost first, without the root.
    public let labels: [[UInt8]]

    public init(labels: [[UInt8]]) {
        self.labels = labels
    }

    /// Parses `www.example.com` or `www.example.com.`; throws for empty labels or overlong names.
    public init(_ text: String) throws(DNSError) {
        let trimmed = text.hasSuffix(".") ? String(text.dropLast()) : text
        guard !trimmed.isEmpty else { self.init(labels: []); return }
        let labels = trimmed.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        guard labels.allSatisfy({ !$0.isEmpty && $0.count < 64 }) else { throw .invalidName(text) }
        self.init(labels: labels)
        guard wireLength <= 255 else { throw .invalidName(text) }
    }

    public static let root = DNSName(labels: [])

    /// Fully qualified, with the trailing dot.
    public var description: String {
        labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") + "."
    }

    /// Without the trailing dot (`example.com`).
    public var text: String { labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") }

    /// Lower-cased (ASCII), the canonical form TSIG signs (RFC 8945 section 4.3.3).
    public var lowercased: DNSName {
        DNSName(labels: labels.map { $0.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 } })
    }

    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// The name one label up; nil at the root.
    public var parent: DNSName? { labels.isEmpty ? nil : DNSName(labels: Array(labels.dropFirst())) }

    /// True when `self` equals `zone` or lies below it.
    public func isSubdomain(of zone: DNSName) -> Bool {
        let mine = lowercased.labels, theirs = zone.lowercased.labels
        return mine.count >= theirs.count && Array(mine.suffix(theirs.count)) == theirs
    }

    /// `label.self`.
    public func prepending(_ label: String) -> DNSName { DNSName(labels: [Array(label.utf8)] + labels) }

    public static func == (a: DNSName, b: DNSName) -> Bool { a.lowercased.labels == b.lowercased.labels }
    public func hash(into hasher: inout Hasher) { hasher.combine(lowercased.labels) }

    func write(to writer: inout DNSWriter) {
        for label in labels {
            writer.byte(UInt8(label.count))
            writer.bytes(label)
        }
        writer.byte(0)
    }
}
