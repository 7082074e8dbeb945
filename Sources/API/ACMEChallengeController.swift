import Foundation
import Hummingbird
import Store

/// `GET /.well-known/acme-challenge/{token}`: http-01 answers from the database, so
/// any API replica can serve them.
struct ACMEChallengeController {
    let db: Database

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get(".well-known/acme-challenge/:token") { _, context -> Response in
            let token = try context.parameters.require("token")
            guard let keyAuthorization = try await ACMEChallenges(db: db).http01KeyAuthorization(token: token) else {
                return Response(
                    status: .notFound, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "not found\n")))
            }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: keyAuthorization)))
        }
    }
}
