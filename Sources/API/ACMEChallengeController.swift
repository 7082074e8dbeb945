import Foundation
import Hummingbird
import Postgres

/// `GET /.well-known/acme-challenge/{token}`: http-01 answers from the database, so
/// any API replica can serve them.
struct ACMEChallengeController {
    let db: PostgresClient

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get(".well-known/acme-challenge/:token") { _, context -> Response in
            let token = try context.parameters.require("token")
            guard let row = try await db.query("""
                SELECT key_authorization FROM acme_challenges
                WHERE token = \(token) AND type = 'http-01' AND expires_at > now()
                """).first else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "not found\n")))
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: try row.decode(String.self, "key_authorization"))))
        }
    }
}
