import Foundation

/// An uploaded certificate bundle: the chain ordered leaf → intermediates →
/// root with every signature verified, the optional private key and the
/// optional client-CA list (for two-way TLS).
///
/// Parsing rejects what is structurally wrong (``X509Error/pemInvalid(block:reason:)``,
/// ``X509Error/chainBroken(index:reason:)`` …); ``validate(at:requireKey:requireOrder:)``
/// applies the upload policy (key present and matching, dates); ``lint(_:)``
/// reports everything else as findings.
public struct CertificateBundle: Sendable {
    /// Leaf first, then each certificate's issuer.
    public let chain: [Certificate]
    /// The private key, when one was uploaded.
    public let privateKey: PrivateKey?
    /// Client-CA certificates for two-way TLS, in upload order.
    public let clientCA: [Certificate]
    /// For each chain position, the certificate's 0-based position among the
    /// uploaded certificates.
    public let inputPositions: [Int]
    /// Positions (among the uploaded certificates) of exact duplicates that were dropped.
    public let duplicatePositions: [Int]

    /// The leaf certificate.
    public var leaf: Certificate { chain[0] }

    /// The chain ends in a self-signed certificate (a root) that was uploaded
    /// along with at least one certificate it issued.
    public let rootIncluded: Bool

    /// True when the chain visibly stops short: its top certificate is
    /// neither self-signed nor a CA, i.e. a leaf uploaded without the
    /// intermediate that issued it. (Whether an intermediate's issuer is a
    /// trusted root cannot be known without a trust store, so a chain ending
    /// in an intermediate counts as complete, as servers send it.)
    public let isIncomplete: Bool

    /// True when the certificates were not uploaded leaf first, each followed by its issuer.
    public var wasReordered: Bool { inputPositions != inputPositions.sorted() || inputPositions.first != 0 }

    /// Parses one PEM text holding certificates in any order plus zero or one
    /// private key (the body users upload to NGINX Unit and similar).
    public static func parse(
        pem: String, passphrase: String? = nil, limits: InputLimits = .default
    ) throws(X509Error) -> CertificateBundle {
        try parse(bytes: Array(pem.utf8), passphrase: passphrase, limits: limits)
    }

    /// Like ``parse(pem:passphrase:limits:)`` for raw bytes (which need not be UTF-8).
    public static func parse(
        bytes: [UInt8], passphrase: String? = nil, limits: InputLimits = .default
    ) throws(X509Error) -> CertificateBundle {
        let parts = try Parts(bytes, limits: limits, passphrase: passphrase, allowKey: true)
        return try assemble(certificates: parts.certificates, key: parts.key, clientCA: [])
    }

    /// Parses separate inputs: the chain, the key (may also sit in `chain`)
    /// and a client-CA list.
    public static func parse(
        chain: String, key: String?, clientCA: String? = nil, passphrase: String? = nil,
        limits: InputLimits = .default
    ) throws(X509Error) -> CertificateBundle {
        let chainParts = try Parts(Array(chain.utf8), limits: limits, passphrase: passphrase, allowKey: true)
        var privateKey = chainParts.key
        var certificates = chainParts.certificates
        if let key {
            let keyParts = try Parts(Array(key.utf8), limits: limits, passphrase: passphrase, allowKey: true)
            // People paste "cert + key" into the key field; accept what is there.
            certificates += keyParts.certificates
            if let k = keyParts.key {
                guard privateKey == nil else { throw .pemInvalid(block: 0, reason: "a private key was given twice") }
                privateKey = k
            } else {
                throw .keyMissing
            }
        }
        var ca: [Certificate] = []
        if let clientCA {
            let caParts = try Parts(Array(clientCA.utf8), limits: .clientCA, passphrase: nil, allowKey: false)
            guard !caParts.certificates.isEmpty else { throw .noCertificate }
            ca = caParts.certificates
        }
        guard certificates.count <= limits.maxCertificates else {
            throw .tooManyCertificates(count: certificates.count, limit: limits.maxCertificates)
        }
        return try assemble(certificates: certificates, key: privateKey, clientCA: ca)
    }

    /// Applies the upload policy: a key is present (when `requireKey`) and
    /// matches the leaf; the chain is in order (when `requireOrder`); every
    /// certificate except an included root is valid at `date`.
    public func validate(at date: Date = Date(), requireKey: Bool = true, requireOrder: Bool = false) throws(X509Error) {
        if let privateKey {
            guard privateKey.matches(leaf) else { throw .keyMismatch }
        } else if requireKey {
            throw .keyMissing
        }
        if requireOrder && wasReordered { throw .chainOrder }
        // Clients use their own copy of a root, so an included root's dates do not matter.
        let checked = rootIncluded ? chain.count - 1 : chain.count
        for (index, certificate) in chain.prefix(checked).enumerated() {
            let validity = certificate.info.validity
            if date < validity.since { throw .notYetValid(index: index, since: validity.since) }
            if date > validity.until { throw .expired(index: index, until: validity.until) }
        }
    }

    /// The details the API shows (NGINX Unit's `key` and `chain[]`, extended).
    public func details() -> CertificateDetails {
        let key = privateKey?.details ?? leaf.publicKey.details
        return CertificateDetails(
            key: key.summary, keyDetails: key, chain: chain.map(\.info),
            rootIncluded: rootIncluded, incomplete: isIncomplete)
    }

    // MARK: - Assembly

    /// Orders the certificates into one chain and verifies each signature.
    static func assemble(
        certificates input: [Certificate], key: PrivateKey?, clientCA: [Certificate]
    ) throws(X509Error)
        -> CertificateBundle
    {
        guard !input.isEmpty else { throw .noCertificate }
        for (index, certificate) in (input + clientCA).enumerated() {
            if let field = certificate.info.fieldWithNUL { throw .nulInName(index: index, field: field) }
        }
        var unique: [(position: Int, certificate: Certificate)] = []
        var duplicates: [Int] = []
        var seen: Set<[UInt8]> = []
        for (position, certificate) in input.enumerated() {
            if seen.insert(certificate.der).inserted {
                unique.append((position, certificate))
            } else {
                duplicates.append(position)
            }
        }

        // parent[i]: index in `unique` of the certificate that signed i; nil for
        // a self-signed certificate or one whose issuer was not uploaded.
        var parent: [Int?] = Array(repeating: nil, count: unique.count)
        var selfSigned: Set<Int> = []
        for (i, child) in unique.enumerated() {
            let cert = child.certificate
            if cert.hasIssuerName(of: cert) && cert.isSignatureValid(signedBy: cert) {
                selfSigned.insert(i)
                continue
            }
            let named = unique.indices.filter { $0 != i && cert.hasIssuerName(of: unique[$0].certificate) }
            if named.isEmpty { continue }
            guard let signer = named.first(where: { cert.isSignatureValid(signedBy: unique[$0].certificate) }) else {
                throw .chainBroken(
                    index: child.position,
                    reason: "its signature does not verify with the key of its issuer ("
                        + "\(unique[named[0]].certificate.info.subject.commonName ?? "no CN"))"
                )
            }
            parent[i] = signer
        }

        // The leaf signed nothing else; among several such, prefer the one the
        // key belongs to, then a non-CA, then the first uploaded.
        let signers = Set(parent.compactMap { $0 })
        let candidates = unique.indices.filter { !signers.contains($0) }
        let leafIndex =
            candidates.first { i in key.map { $0.matches(unique[i].certificate) } ?? false }
            ?? candidates.first { !unique[$0].certificate.info.isCA }
            ?? candidates.first
            ?? 0 // every certificate signs another: a cycle; the walk below stops at repeats

        var order: [Int] = []
        var current: Int? = leafIndex
        while let i = current, !order.contains(i) {
            order.append(i)
            current = parent[i]
        }
        if let stray = unique.indices.filter({ !order.contains($0) }).min(by: { unique[$0].position < unique[$1].position }) {
            throw .chainBroken(
                index: unique[stray].position,
                reason: "it is not the leaf's issuer nor an issuer of its issuers")
        }
        let chain = order.map { unique[$0].certificate }
        guard chain[0].publicKey.details.isSupported else { throw .unsupportedKey(chain[0].publicKey.details.summary) }
        let topIsSelfSigned = selfSigned.contains(order[order.count - 1])
        return CertificateBundle(
            chain: chain, privateKey: key, clientCA: clientCA,
            inputPositions: order.map { unique[$0].position }, duplicatePositions: duplicates,
            rootIncluded: chain.count > 1 && topIsSelfSigned,
            isIncomplete: !topIsSelfSigned && !chain[chain.count - 1].info.isCA)
    }

    /// Certificates and key found in one PEM input.
    struct Parts {
        var certificates: [Certificate] = []
        var key: PrivateKey?

        init(_ bytes: [UInt8], limits: InputLimits, passphrase: String?, allowKey: Bool) throws(X509Error) {
            let blocks = try PEM.blocks(in: bytes, limits: limits)
            let count = blocks.count { $0.label == "CERTIFICATE" }
            guard count <= limits.maxCertificates else {
                throw .tooManyCertificates(count: count, limit: limits.maxCertificates)
            }
            for block in blocks {
                switch block.label {
                case "CERTIFICATE":
                    guard let der = block.der else {
                        throw .pemInvalid(block: block.index, reason: "a CERTIFICATE block cannot have headers")
                    }
                    certificates.append(try Certificate(der: der, block: block.index))
                case _ where PrivateKey.pemLabels.contains(block.label):
                    guard allowKey else {
                        throw .pemInvalid(block: block.index, reason: "a private key is not accepted here")
                    }
                    guard key == nil else { throw .pemInvalid(block: block.index, reason: "more than one private key") }
                    key = try PrivateKey.read(block, passphrase: passphrase)
                case "EC PARAMETERS":
                    continue // `openssl ecparam -genkey` writes it before the key; the key repeats the curve
                default:
                    throw .pemInvalid(
                        block: block.index,
                        reason: "unexpected \(block.label) block; only CERTIFICATE and private key blocks are accepted")
                }
            }
        }
    }
}
