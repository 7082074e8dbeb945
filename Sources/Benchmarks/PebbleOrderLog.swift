import Foundation

/// What Pebble's log says about the orders it took and the certificates it issued: `bench storm`
/// and `RenewalStormTests` count exactly-once and the budget's spread from it.
public enum PebbleOrderLog {
    /// When Pebble added each order (`Pebble 2026/11/30 21:05:07 Added order …`), to the second.
    public static func orderTimes(_ logFile: String) throws -> [Date] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy/MM/dd HH:mm:ss"
        return try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("Added order") }
            .compactMap { line in
                let fields = line.split(separator: " ")
                return fields.count > 2 ? formatter.date(from: "\(fields[1]) \(fields[2])") : nil
            }
    }

    /// How many certificates Pebble issued (`Issued certificate serial … for order …`).
    public static func certificatesIssued(_ logFile: String) throws -> Int {
        try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n").count { $0.contains("Issued certificate serial") }
    }

    /// The most TIMES inside any window of SECONDS (times to the second: a window is counted
    /// as SECONDS - 1 whole seconds after its first, never more than it holds).
    public static func mostInAnyWindow(_ times: [Date], seconds: Int) -> Int {
        let sorted = times.sorted()
        var most = 0, first = 0
        for last in sorted.indices {
            while sorted[last].timeIntervalSince(sorted[first]) >= Double(seconds) { first += 1 }
            most = max(most, last - first + 1)
        }
        return most
    }
}
