import Foundation

/// The whole machine's CPU time from /proc/stat, so a benchmark can print how busy the
/// machine was during a phase: near 100 % means CPU, not the database, was the bound
/// (whoever used it: our processes, the broker, or anything else on the machine).
struct MachineCPU {
    let busy: Double
    let total: Double

    /// A reading now; zeros where /proc/stat is absent (not Linux).
    static func now() -> MachineCPU {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return MachineCPU(busy: 0, total: 0) }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 5 else { return MachineCPU(busy: 0, total: 0) }
        let total = ticks.prefix(8).reduce(0, +)
        return MachineCPU(busy: total - ticks[3] - ticks[4], total: total) // idle, iowait
    }

    /// Percent of all cores busy between SINCE and this reading.
    func busyPercent(since start: MachineCPU) -> Double {
        let total = self.total - start.total
        return total > 0 ? 100 * (busy - start.busy) / total : 0
    }
}
