import ACME
import Logging
import ServiceLifecycle

/// The http-01 responder on the port the CA validates, as a service of the API's group: it
/// starts with the group and stops on its graceful shutdown. A port it cannot bind is logged
/// and left to the API's own port, which serves the same path.
struct HTTP01ResponderService: Service {
    let host: String
    let port: Int
    let store: any HTTP01TokenStore
    let logger: Logger

    func run() async throws {
        let responder: HTTP01Responder
        do {
            responder = try await HTTP01Responder.start(host: host, port: port, store: store)
        } catch {
            logger.warning(
                "cannot answer http-01 challenges on the extra port; only the API port serves them",
                metadata: ["port": "\(port)", "error": "\(error)"])
            return
        }
        logger.info("answering http-01 challenges", metadata: ["port": "\(port)"])
        // Serves until the group shuts down (a cancellation ends the wait too).
        try? await gracefulShutdown()
        await responder.stop()
    }
}
