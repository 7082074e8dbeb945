import Foundation

/// The thread that owns one libpq connection: it runs the connection's blocking calls, never
/// on Swift's cooperative pool. A statement costs a hop here and one back (see
/// `PostgresClient.withConnection` for why bodies do not run here).
final class ConnectionThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var stopping = false
    /// Set once in `init`, before anyone else can see this object.
    private var thread: Thread?

    /// Starts the thread; it runs until `stop()` (it keeps this object alive until then).
    init(name: String) {
        let thread = Thread { [self] in
            // Named from inside: on Linux a name set before start does not reach the OS thread (perf, top).
            Thread.current.name = name
            loop()
        }
        self.thread = thread
        thread.start()
    }

    /// True on this thread: a blocking call may run right here.
    var isCurrent: Bool { Thread.current === thread }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if stopping {
            // Stopped (its connection is gone): whatever still prefers it runs on the global executor.
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs WORK on this thread: inline when already here, otherwise after one hop (and one back).
    func run<T: Sendable>(_ work: @Sendable () throws -> T) async throws -> T {
        if isCurrent { return try work() }
        return try await withTaskExecutorPreference(self) {
            // A nonisolated closure starts on the preferred executor: this thread.
            try work()
        }
    }

    /// Lets the thread finish the jobs it has and end.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
