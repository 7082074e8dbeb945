import Foundation
import Hummingbird
import Store

/// The expiry timeline: a bar chart drawn here as SVG (no script, no chart library).
struct ConsoleTimelineController {
    let dependencies: APIDependencies
    let renderer: ConsoleRenderer

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("timeline", use: timeline)
    }

    @Sendable func timeline(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let summary = try await ExpiryTimeline(db: dependencies.db).summary(project: caller.projectID)
        return renderer.page(
            "timeline",
            [
                "title": "Expiry timeline", "svg": Self.chart(summary), "overdue": summary.overdue, "failing": summary.failing,
                "deferred": summary.deferred,
            ], context: context)
    }

    /// Two bars per day (expiring, renewing). Only numbers go into the SVG, which is why the
    /// template may insert it unescaped.
    static func chart(_ summary: ExpiryTimeline.Summary) -> String {
        let days = summary.expiring.count
        let width = 900.0, height = 220.0, left = 40.0, bottom = 24.0, top = 10.0
        let peak = max(1, (summary.expiring + summary.renewing).max() ?? 1)
        let slot = (width - left) / Double(days)
        let scale = (height - bottom - top) / Double(peak)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" "
            + "aria-label=\"certificates expiring and renewing per day\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\" stroke=\"#999\"/>"
        svg += "<text x=\"0\" y=\"\(top + 8)\">\(peak)</text><text x=\"0\" y=\"\(height - bottom)\">0</text>"
        for day in 0..<days {
            let x = left + Double(day) * slot
            for (offset, (count, kind)) in [(summary.expiring[day], "expiry"), (summary.renewing[day], "renewal")].enumerated() where count > 0 {
                let barHeight = Double(count) * scale
                svg +=
                    "<rect class=\"\(kind)\" x=\"\(f(x + Double(offset) * slot / 2))\" y=\"\(f(height - bottom - barHeight))\" "
                    + "width=\"\(f(max(1, slot / 2 - 0.5)))\" height=\"\(f(barHeight))\">"
                    + "<title>day \(day): \(count) \(kind == "expiry" ? "expiring" : "renewing")</title></rect>"
            }
            if day % 15 == 0 { svg += "<text x=\"\(f(x))\" y=\"\(height - 8)\">+\(day)d</text>" }
        }
        svg += "<rect class=\"expiry\" x=\"\(width - 170)\" y=\"4\" width=\"10\" height=\"10\"/><text x=\"\(width - 155)\" y=\"13\">expiring</text>"
        svg += "<rect class=\"renewal\" x=\"\(width - 90)\" y=\"4\" width=\"10\" height=\"10\"/><text x=\"\(width - 75)\" y=\"13\">renewing</text>"
        return svg + "</svg>"
    }

    /// One decimal, without Foundation's locale-dependent formatting.
    static func f(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
