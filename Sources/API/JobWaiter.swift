import Foundation
import Postgres

/// Waits (bounded) for a job to finish, for the surfaces whose callers expect a
/// synchronous answer (NGINX Unit's `PUT /certificates/{name}` answers once the
/// bundle is stored). The job protocol is unchanged: a worker does the work; this
/// only reads the job row until it is terminal.
struct JobWaiter {
    let db: PostgresClient

    /// How a job ended, or that it had not by the deadline.
    enum Outcome: Equatable {
        case succeeded
        case failed(code: String?, message: String?)
        case timedOut(state: String)
    }

    func wait(for job: UUID, upTo limit: Duration) async throws -> Outcome {
        let deadline = ContinuousClock.now + limit
        // Short first polls: a validate job usually commits within tens of milliseconds.
        var pause = Duration.milliseconds(20)
        while true {
            let row = try await db.query("SELECT state, error_code, error_detail FROM jobs WHERE id = \(job)").first
            let state = try row?.decode(String.self, "state") ?? "missing"
            switch state {
            case "succeeded": return .succeeded
            case "failed", "cancelled", "missing":
                return .failed(code: try row?.decode(String?.self, "error_code"), message: try row?.decode(String?.self, "error_detail"))
            default:
                guard ContinuousClock.now + pause < deadline else { return .timedOut(state: state) }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(250))
            }
        }
    }
}
