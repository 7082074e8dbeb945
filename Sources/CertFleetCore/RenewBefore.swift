import Foundation

/// `renew_before`: how long before `not_after` a certificate is renewed, overriding the
/// default (2/3 of the lifetime). Written as whole seconds or a number with a unit.
public enum RenewBefore {
    /// The longest accepted value (10 years): longer than any certificate's lifetime.
    public static let maximumSeconds = 10 * 366 * 86400

    /// Seconds from `2592000`, `"90s"`, `"45m"`, `"720h"` or `"30d"`; nil when malformed,
    /// not positive or above `maximumSeconds`.
    public static func seconds(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let last = trimmed.last else { return nil }
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let multiplier = units[last] ?? 1
        let digits = units[last] == nil ? trimmed : String(trimmed.dropLast())
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), digits.count <= 12, let number = Int(digits) else { return nil }
        return validated(number * multiplier)
    }

    /// SECONDS when positive and at most `maximumSeconds`.
    public static func validated(_ seconds: Int) -> Int? {
        (1...maximumSeconds).contains(seconds) ? seconds : nil
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
