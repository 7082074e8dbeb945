import CertFleetCore
import Foundation
import Testing

struct RFC3339Tests {
    /// The arithmetic formatter agrees with Foundation's ISO 8601 formatter everywhere.
    @Test func agreesWithFoundationOnManyDates() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime]
        var generator = SystemRandomNumberGenerator()
        let fixed: [TimeInterval] = [
            0, -1, 951_782_400 /* 2000-02-29 */, 4_107_542_399 /* 2100-02-28T23:59:59 */,
            253_402_300_799 /* 9999-12-31T23:59:59 */, 1_663_530_379.999,
        ]
        let random = (0..<20_000).map { _ in TimeInterval(Int64.random(in: 0...253_402_300_799, using: &generator)) }
        for seconds in fixed + random {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(RFC3339.format(date) == reference.string(from: date), "\(seconds)")
        }
    }

    @Test func parsesWhatItFormatsAndOffsetsAndFractions() throws {
        let date = Date(timeIntervalSince1970: 1_663_530_379)
        #expect(RFC3339.format(date) == "2022-09-18T19:46:19Z")
        #expect(RFC3339.parse("2022-09-18T19:46:19Z") == date)
        #expect(RFC3339.parse("2022-09-18T21:46:19+02:00") == date)
        let fractional = try #require(RFC3339.parse("2022-09-18T19:46:19.250Z"))
        #expect(abs(fractional.timeIntervalSince(date) - 0.25) < 0.001)
        #expect(RFC3339.parse("18 Sep 2022") == nil)
    }
}
