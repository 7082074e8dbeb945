import Foundation
import Testing
import X509

@Suite struct ConcurrencyTests {
    /// Parsed values and keys cross tasks: many tasks inspect one bundle and
    /// sign with one key at the same time, and every result is identical or verifiable.
    @Test func bundlesAndKeysAreUsableFromManyTasksAtOnce() async throws {
        let chain = StandardChain.shared
        let bundle = try CertificateBundle.parse(pem: chain.bundle)
        let key = try PrivateKey.generate(.ecP256)
        let expected = bundle.details()
        let results = try await withThrowingTaskGroup(of: (CertificateDetails, Int).self) { group in
            for i in 0..<16 {
                group.addTask {
                    let again = try CertificateBundle.parse(pem: chain.bundle)
                    #expect(again.privateKey?.matches(bundle.leaf) == true)
                    let signature = try JWS.signature(signingInput: Array("task \(i)".utf8), key: key)
                    return (bundle.details(), signature.count)
                }
            }
            var all: [(CertificateDetails, Int)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0.0 == expected && $0.1 == 64 })
    }
}
