import ACME
import Foundation

/// The CA directories the API consults before accepting an issue request (the profiles a
/// CA offers), fetched with a short timeout and kept for ten minutes per URL. A directory
/// that cannot be fetched is nil: the request is accepted and the job meets the CA's answer.
actor DirectoryCache {
    private let settings: ACMESettings
    private let ttl: Duration
    private var entries: [String: (directory: ACMEDirectory?, at: ContinuousClock.Instant)] = [:]

    init(settings: ACMESettings, ttl: Duration = .seconds(600)) {
        self.settings = settings
        self.ttl = ttl
    }

    func directory(_ url: String) async -> ACMEDirectory? {
        if let entry = entries[url], ContinuousClock.now - entry.at < ttl { return entry.directory }
        guard let client = try? settings.unsignedClient(directoryURL: url, timeout: .seconds(5)) else { return nil }
        let directory = try? await client.directory()
        await client.shutdown()
        entries[url] = (directory, ContinuousClock.now)
        return directory
    }
}
