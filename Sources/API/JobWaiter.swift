import Foundation
import Store

/// Waits (bounded) for a job to finish, for the surfaces whose callers expect a
/// synchronous answer (NGINX Unit's `PUT /certificates/{name}` answers once the
/// bundle is stored). The job protocol is unchanged: a worker does the work; this
/// only reads the job row until it is terminal.
struct JobWaiter {
    let db: Database

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
            let outcome = try await JobRecords(db: db).outcome(id: job)
            let state = outcome?.state ?? "missing"
            switch state {
            case "succeeded": return .succeeded
            case "failed", "cancelled", "missing":
                return .failed(code: outcome?.errorCode, message: outcome?.errorDetail)
            default:
                guard ContinuousClock.now + pause < deadline else { return .timedOut(state: state) }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(250))
            }
        }
    }
}
