import Glibc

/// Parents may start us with SIGTERM/SIGINT blocked or ignored (Swift's test runner
/// spawns children with most signals blocked): a server started that way would never
/// drain on SIGTERM. Restore the defaults before the service group installs its handlers.
enum TerminationSignals {
    static func restoreDefaults() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }
}
