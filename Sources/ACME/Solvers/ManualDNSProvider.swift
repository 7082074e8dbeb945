import Synchronization

/// The "manual" dns-01 mode (Kontena's `certificate authorize`): it creates
/// nothing, only records which TXT record the user must create, so the API can
/// show it; the solver's `waitUntilReady` then waits until the record resolves.
public final class ManualDNSProvider: DNS01Provider {
    /// A TXT record to show the user.
    public struct Record: Codable, Sendable, Hashable {
        public var name: String
        public var value: String
    }

    private let records = Mutex<[Record]>([])
    private let onRecord: @Sendable (Record) async -> Void

    /// - Parameter onRecord: called for each record to create (e.g. store it
    ///   on the certificate so `GET` shows it).
    public init(onRecord: @escaping @Sendable (Record) async -> Void = { _ in }) {
        self.onRecord = onRecord
    }

    /// The records the user still has to create.
    public var pendingRecords: [Record] { records.withLock { $0 } }

    public func createRecord(name: String, value: String) async throws {
        let record = Record(name: name, value: value)
        let isNew = records.withLock { list in
            if list.contains(record) { return false }
            list.append(record)
            return true
        }
        if isNew { await onRecord(record) }
    }

    public func deleteRecord(name: String, value: String) async throws {
        records.withLock { $0.removeAll { $0 == Record(name: name, value: value) } }
    }
}
