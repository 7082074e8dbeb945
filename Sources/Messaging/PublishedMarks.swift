import Foundation
import Logging
import Store

/// Outbox rows the fast path published, marked in one UPDATE per moment instead of one
/// transaction per message (issue 21: it was the fourth transaction of every job).
///
/// Safe to delay: until a row is marked, only the relay could send it again, and it leaves
/// fresh rows alone for `Outbox.writerGrace`; a mark lost in a crash means the message is sent
/// twice, which consumers already handle. Only the time a row counts as unpublished grows.
actor PublishedMarks {
    /// Rows published within this long share one UPDATE.
    static let batchWindow = Duration.milliseconds(50)

    private let db: Database
    private let logger: Logger
    private var pending: [Int64] = []
    private var scheduled = false

    init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    func add(_ ids: [Int64]) {
        guard !ids.isEmpty else { return }
        pending += ids
        guard !scheduled else { return }
        scheduled = true
        Task {
            try? await Task.sleep(for: Self.batchWindow)
            await flush()
        }
    }

    func flush() async {
        scheduled = false
        let ids = pending
        pending = []
        guard !ids.isEmpty else { return }
        do {
            try await Outbox.markPublished(db, ids: ids)
        } catch {
            // Published and confirmed: the relay sends them again after the grace, which is
            // harmless, rather than this process holding them.
            logger.warning("outbox marks not written; the relay will send these again", metadata: ["error": "\(error)", "outbox_ids": "\(ids)"])
        }
    }
}
