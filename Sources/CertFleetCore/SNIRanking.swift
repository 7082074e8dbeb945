import Foundation

/// Which certificate serves an SNI name when several match: an exact name beats a
/// wildcard, a `valid` certificate beats any other state, then the latest `not_after`.
public enum SNIRanking {
    public struct Candidate<Value> {
        public let exact: Bool
        public let valid: Bool
        public let notAfter: Date?
        public let value: Value

        public init(exact: Bool, valid: Bool, notAfter: Date?, value: Value) {
            self.exact = exact
            self.valid = valid
            self.notAfter = notAfter
            self.value = value
        }
    }

    /// True when A should be served rather than B.
    public static func precedes<A, B>(_ a: Candidate<A>, _ b: Candidate<B>) -> Bool {
        if a.exact != b.exact { return a.exact }
        if a.valid != b.valid { return a.valid }
        return (a.notAfter ?? .distantPast) > (b.notAfter ?? .distantPast)
    }

    public static func best<Value>(of candidates: [Candidate<Value>]) -> Candidate<Value>? {
        candidates.min { precedes($0, $1) }
    }
}
