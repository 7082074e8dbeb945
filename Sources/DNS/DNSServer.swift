/// Where to send DNS messages: `host:port` (`[v6]:port`; port 53 when absent).
public struct DNSServer: Sendable, Hashable, CustomStringConvertible, Codable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 53) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":"), let port = rest.isEmpty ? 53 : Int(rest.dropFirst()) else { return nil }
            self.init(host: String(text[text.index(after: text.startIndex)..<close]), port: port)
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            self.init(host: String(text[..<colon]), port: port)
        } else {
            guard !text.isEmpty else { return nil }
            self.init(host: text, port: 53)
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
