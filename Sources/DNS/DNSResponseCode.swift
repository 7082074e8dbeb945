/// RCODEs (RFC 1035, 2136) and the TSIG error codes (RFC 8945) that share their space.
public struct DNSResponseCode: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = Self(rawValue: 0)
    public static let formErr = Self(rawValue: 1)
    public static let servFail = Self(rawValue: 2)
    public static let nxDomain = Self(rawValue: 3)
    public static let notImp = Self(rawValue: 4)
    public static let refused = Self(rawValue: 5)
    public static let yxDomain = Self(rawValue: 6)
    public static let yxRRSet = Self(rawValue: 7)
    public static let nxRRSet = Self(rawValue: 8)
    public static let notAuth = Self(rawValue: 9)
    public static let notZone = Self(rawValue: 10)
    public static let badSig = Self(rawValue: 16)
    public static let badKey = Self(rawValue: 17)
    public static let badTime = Self(rawValue: 18)
    public static let badTrunc = Self(rawValue: 22)

    public var name: String {
        let names: [UInt16: String] = [
            0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
            7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC",
        ]
        return names[rawValue] ?? "RCODE\(rawValue)"
    }
}

/// RR types this module reads and writes.
public struct DNSRecordType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = Self(rawValue: 1)
    public static let ns = Self(rawValue: 2)
    public static let cname = Self(rawValue: 5)
    public static let soa = Self(rawValue: 6)
    public static let txt = Self(rawValue: 16)
    public static let aaaa = Self(rawValue: 28)
    public static let opt = Self(rawValue: 41)
    public static let tsig = Self(rawValue: 250)
    public static let any = Self(rawValue: 255)
    public static let caa = Self(rawValue: 257)

    public var description: String {
        let names: [UInt16: String] = [1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 16: "TXT", 28: "AAAA", 41: "OPT", 250: "TSIG", 255: "ANY", 257: "CAA"]
        return names[rawValue] ?? "TYPE\(rawValue)"
    }
}

/// CLASS values: IN for data; NONE and ANY carry meaning in UPDATE (RFC 2136 section 2.4/2.5) and TSIG.
public struct DNSClass: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let `in` = Self(rawValue: 1)
    public static let none = Self(rawValue: 254)
    public static let any = Self(rawValue: 255)
}
