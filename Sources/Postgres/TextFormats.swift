import CertFleetCore
import Foundation

/// PostgreSQL's text formats for timestamps, bytea and arrays, parsed by hand:
/// they are on the path of every row, and Foundation's formatters are slow and locale-bound.
enum PostgresTimestamp {
    /// `2026-11-23T13:29:00.123456Z`.
    static func format(_ date: Date) -> String {
        let totalMicros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int64((totalMicros / 1_000_000).rounded(.down))
        var micros = Int64(totalMicros) - seconds * 1_000_000
        if micros < 0 { micros += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let civil = RFC3339.civilDate(daysSinceEpoch: days)
        let (year, month, day) = (Int64(civil.year), Int64(civil.month), Int64(civil.day))
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        let date = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
        let time = "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micros, 6))"
        return date + "T" + time + "Z"
    }

    /// Parses the ISO output style: `2026-11-23 13:29:00.123456+00`, `…+05:30`, or with a `T`.
    static func parse(_ text: String) -> Date? {
        let chars = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int64? {
            guard index + digits <= chars.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<digits {
                let c = chars[index]
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int64(c - 48)
                index += 1
            }
            return value
        }
        func expect(_ char: UInt8) -> Bool {
            guard index < chars.count, chars[index] == char else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else { return nil }
        guard index < chars.count, chars[index] == 32 || chars[index] == 84 else { return nil }
        index += 1
        guard let hour = number(2), expect(58), let minute = number(2), expect(58), let second = number(2) else { return nil }
        var micros: Int64 = 0
        if expect(46) {
            var scale: Int64 = 100_000
            while index < chars.count, chars[index] >= 48, chars[index] <= 57 {
                micros += Int64(chars[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offset: Int64 = 0
        if index < chars.count {
            if chars[index] == 90 { // Z
                index += 1
            } else {
                let sign: Int64 = chars[index] == 45 ? -1 : 1
                guard chars[index] == 43 || chars[index] == 45 else { return nil }
                index += 1
                guard let hours = number(2) else { return nil }
                var minutes: Int64 = 0
                if expect(58) { guard let m = number(2) else { return nil }; minutes = m }
                if expect(58) { guard number(2) != nil else { return nil } }
                offset = sign * (hours * 3600 + minutes * 60)
            }
        }
        guard index == chars.count else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

enum PostgresHex {
    /// Decodes `\x0a1b…` (the default `bytea_output = hex`).
    static func decodeBytea(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count >= 2, chars[0] == 92, chars[1] == 120, chars.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity((chars.count - 2) / 2)
        var index = 2
        while index < chars.count {
            guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

enum PostgresArrayLiteral {
    /// `{"a","b \"q\""}` — every element quoted, so commas, braces and NULL spelled as text are safe.
    static func encode(_ elements: [String]) -> String {
        let quoted = elements.map { element -> String in
            var escaped = ""
            for char in element {
                if char == "\\" || char == "\"" { escaped.append("\\") }
                escaped.append(char)
            }
            return "\"\(escaped)\""
        }
        return "{\(quoted.joined(separator: ","))}"
    }

    /// Parses a one-dimensional text array literal. NULL elements are not supported (nil result).
    static func decode(_ text: String) -> [String]? {
        let chars = Array(text)
        guard chars.first == "{", chars.last == "}" else { return nil }
        var result: [String] = []
        var index = 1
        let end = chars.count - 1
        if index == end { return [] }
        while index < end {
            var element = ""
            if chars[index] == "\"" {
                index += 1
                while index < end, chars[index] != "\"" {
                    if chars[index] == "\\" { index += 1 }
                    guard index < end else { return nil }
                    element.append(chars[index])
                    index += 1
                }
                guard index < end else { return nil }
                index += 1 // closing quote
            } else {
                while index < end, chars[index] != "," {
                    element.append(chars[index])
                    index += 1
                }
                if element == "NULL" { return nil }
            }
            result.append(element)
            if index < end {
                guard chars[index] == "," else { return nil }
                index += 1
            }
        }
        return result
    }
}
