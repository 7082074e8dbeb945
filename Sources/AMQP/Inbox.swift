import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The only door into a connection's owner thread: other threads enqueue work
/// here and the owner runs it. A self-pipe wakes the owner from `poll` so it can
/// wait on the socket and on new work at once without spinning.
final class Inbox: @unchecked Sendable {
    typealias Work = (Driver) -> Void

    private let lock = NSLock()
    private var queue: [Work] = []
    private var sleeping = false
    private var closed = false
    /// Read end, polled by the owner thread.
    let wakeFD: Int32
    private let signalFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed: \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = fds[0]
        signalFD = fds[1]
    }

    deinit {
        Glibc.close(wakeFD)
        Glibc.close(signalFD)
    }

    /// Enqueues work for the owner thread; false once the connection has shut down.
    func submit(_ work: @escaping Work) -> Bool {
        lock.lock()
        guard !closed else {
            lock.unlock()
            return false
        }
        queue.append(work)
        let wake = sleeping
        sleeping = false
        lock.unlock()
        // Only a sleeping owner needs the syscall; a busy one takes the queue on its next turn.
        if wake {
            var byte: UInt8 = 1
            _ = write(signalFD, &byte, 1)
        }
        return true
    }

    /// Everything enqueued so far, in order.
    func take() -> [Work] {
        lock.lock()
        defer { lock.unlock() }
        let work = queue
        queue.removeAll(keepingCapacity: true)
        return work
    }

    /// Marks the owner as about to sleep; false when work is already waiting.
    func prepareToSleep() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if !queue.isEmpty { return false }
        sleeping = true
        return true
    }

    /// Called after waking: empties the pipe.
    func awoke() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeFD, &buffer, buffer.count) > 0 {}
        lock.lock()
        sleeping = false
        lock.unlock()
    }

    /// Refuses further work and returns what was still queued.
    func close() -> [Work] {
        lock.lock()
        defer { lock.unlock() }
        closed = true
        let work = queue
        queue.removeAll()
        return work
    }
}
