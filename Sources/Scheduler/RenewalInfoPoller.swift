import ACME
import Foundation
import Logging
import Store
import X509

/// Asks the CAs for their renewal windows (ARI, RFC 9773) for every ACME certificate,
/// every six hours or as their `Retry-After` says: a window earlier than `renew_at` moves
/// it (a CA revoking a batch makes certificates due at once). The request is a plain GET,
/// so one client per directory serves every account there.
actor RenewalInfoPoller {
    private let maintenance: Maintenance
    private let settings: ACMESettings
    private let logger: Logger
    private var clients: [String: ACMEClient] = [:]

    init(maintenance: Maintenance, settings: ACMESettings, logger: Logger) {
        self.maintenance = maintenance
        self.settings = settings
        self.logger = logger
    }

    /// Checks the certificates that are due (a batch); returns how many were asked.
    func checkDue() async throws -> Int {
        let due = try await maintenance.claimRenewalInfoChecks()
        for check in due {
            let answer = await ask(check)
            try await maintenance.recordRenewalInfo(answer, certificate: check.certificateID)
        }
        return due.count
    }

    private func ask(_ check: DueRenewalInfoCheck) async -> RenewalInfoAnswer {
        var log = logger
        log[metadataKey: "certificate_id"] = "\(check.certificateID.uuidString.lowercased())"
        log[metadataKey: "acme_directory"] = "\(check.directoryURL)"
        do {
            let leaf = try Certificate(pem: check.chainPEM)
            switch try await client(check.directoryURL).renewalInfo(for: leaf) {
            case .unsupported:
                return .unsupported
            case .window(let info):
                log.info("ARI window", metadata: ["window_start": "\(info.windowStart)", "window_end": "\(info.windowEnd)"])
                return .window(
                    start: info.windowStart, end: info.windowEnd, explanationURL: info.explanationURL,
                    retryAfter: info.retryAfterSeconds)
            }
        } catch {
            // Garbage, an inverted window, an unreachable CA: logged, asked again later, never a tight loop.
            log.warning("ARI check failed; asked again later", metadata: ["error": "\(error)"])
            return .failed
        }
    }

    private func client(_ directoryURL: String) throws -> ACMEClient {
        if let client = clients[directoryURL] { return client }
        let client = try settings.unsignedClient(directoryURL: directoryURL, timeout: .seconds(10))
        clients[directoryURL] = client
        return client
    }

    func shutdown() async {
        for client in clients.values { await client.shutdown() }
        clients = [:]
    }
}
