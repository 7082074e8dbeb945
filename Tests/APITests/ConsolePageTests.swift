import Foundation
import Store
import Testing

@testable import API

/// The console's pure parts: every template parses and escapes what it is given, forms parse
/// (urlencoded and multipart), CSRF tokens compare, the timeline's SVG holds only numbers.
struct ConsolePageTests {
    @Test func everyTemplateParsesAndEscapesMarkup() {
        let renderer = ConsoleRenderer()
        for name in ConsoleTemplates.all.keys {
            #expect(renderer.library.getTemplate(named: name) != nil, "\(name)")
        }
        let hostile = "<script>alert(1)</script>\"'&"
        let html =
            renderer.library.render(
                [
                    "name": hostile, "state": hostile, "subject": hostile, "sans": [hostile],
                    "signedIn": true, "csrf": hostile,
                ], withTemplate: "certificate") ?? ""
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"))
    }

    @Test func formsParseUrlencodedAndMultipart() throws {
        let encoded = try #require(
            ConsoleForm(
                body: Array("csrf=a%2Bb&name=web+1&empty=".utf8),
                contentType: "application/x-www-form-urlencoded"))
        #expect(encoded["csrf"] == "a+b")
        #expect(encoded["name"] == "web 1")
        #expect(encoded["empty"] == nil)
        let pem = "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n"
        let body =
            "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntoken\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"chain_file\"; filename=\"a name=x.pem\"\r\n"
            + "Content-Type: application/x-x509-ca-cert\r\n\r\n\(pem)\r\n--XyZ--\r\n"
        let multipart = try #require(ConsoleForm(body: Array(body.utf8), contentType: "multipart/form-data; boundary=XyZ"))
        #expect(multipart["csrf"] == "token")
        #expect(multipart.fields["chain_file"] == pem)
        #expect(ConsoleForm(body: Array("x".utf8), contentType: "application/json") == nil)
        #expect(ConsoleForm(body: Array("no boundary here".utf8), contentType: "multipart/form-data; boundary=XyZ") == nil)
    }

    @Test func csrfTokensCompareWholly() {
        let token = ConsoleSessions.token()
        #expect(token.count == 43)
        #expect(ConsoleSessions.same(token, token))
        #expect(!ConsoleSessions.same(token, String(token.dropLast()) + "x"))
        #expect(!ConsoleSessions.same("", ""))
        #expect(ConsoleSessions.token() != token)
    }

    @Test func theTimelineChartHoldsOnlyNumbers() {
        var summary = ExpiryTimeline.Summary(
            expiring: Array(repeating: 0, count: 90), renewing: Array(repeating: 0, count: 90),
            overdue: 0, failing: 0, deferred: 0)
        summary.expiring[3] = 5
        summary.renewing[40] = 2
        let svg = ConsoleTimelineController.chart(summary)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.contains("day 3: 5 expiring") && svg.contains("day 40: 2 renewing"))
        #expect(ConsoleTimelineController.f(12.34) == "12.3" && ConsoleTimelineController.f(0.05) == "0.1")
    }
}
