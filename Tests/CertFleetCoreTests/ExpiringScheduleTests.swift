import CertFleetCore
import Foundation
import Testing

@Suite struct ExpiringScheduleTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day = 86_400.0

    @Test(
        arguments: [
            // remaining (days), the next visit (days from now; nil: never)
            (60.0, 30.0), // before every threshold: when the widest is crossed
            (30.5, 0.5),
            (20.0, 6.0), // 30 crossed: at 14
            (10.0, 3.0), // at 7
            (5.0, 4.0), // at 1
            (0.5, nil), // all crossed
            (-1.0, nil), // ended
            (30.0, 16.0), // exactly on a threshold counts as crossed: the next is 14
        ] as [(Double, Double?)])
    func theNextVisitIsTheNextThresholdCrossed(remaining: Double, next: Double?) {
        let at = ExpiringSchedule.nextCheck(remaining: remaining * Self.day, thresholds: [1, 7, 14, 30], now: Self.now)
        if let next {
            #expect(abs(at.timeIntervalSince(Self.now) - next * Self.day) < 0.001)
        } else {
            #expect(at == .distantFuture)
        }
    }
}
