import Hummingbird

/// The web console at /console (issue 19): server-rendered pages over the API's own key
/// cache, scopes, rate limits, reads and intake layer, in the API's process.
struct Console {
    let dependencies: APIDependencies
    let keys: KeyCache
    let limiter: RateLimiter
    let failedAuthentications: RateLimiter
    let bodyLimit: Int
    let sessions = ConsoleSessions()
    let renderer = ConsoleRenderer()

    func addRoutes(to router: Router<APIRequestContext>) {
        let console = router.group("console").add(middleware: ConsoleShellMiddleware(renderer: renderer))
        let signIn = ConsoleSignInController(keys: keys, sessions: sessions, failedAuthentications: failedAuthentications, renderer: renderer)
        signIn.addRoutes(to: console)
        let signedIn = console.group().add(
            middleware: ConsoleAuthMiddleware(
                keys: keys, sessions: sessions, limiter: limiter,
                renderer: renderer, bodyLimit: bodyLimit))
        ConsoleCertificatesController(dependencies: dependencies, renderer: renderer).addRoutes(to: signedIn)
        ConsoleJobsController(dependencies: dependencies, renderer: renderer).addRoutes(to: signedIn)
        ConsoleTimelineController(dependencies: dependencies, renderer: renderer).addRoutes(to: signedIn)
        ConsoleAdminController(db: dependencies.db, keys: keys, renderer: renderer).addRoutes(to: signedIn)
        signIn.addSignedInRoutes(to: signedIn)
    }
}
