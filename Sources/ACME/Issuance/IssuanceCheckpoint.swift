/// Where an issuance stands, after each step: everything another process
/// needs to continue without creating a second order. The job runtime stores
/// it as JSON in `jobs.checkpoint`. Holds no key material.
public struct IssuanceCheckpoint: Codable, Sendable, Hashable {
    /// The steps, in order. Each names the state reached.
    public enum Step: String, Codable, Sendable, CaseIterable, Comparable {
        /// Nothing sent to the CA yet.
        case start
        /// The order exists (`orderURL`, `authorizationURLs`).
        case orderCreated
        /// Tokens/TXT records for the pending authorizations are published (`challenges`).
        case challengesPresented
        /// The CA was asked to validate every pending challenge.
        case challengesAccepted
        /// Every authorization is valid and the order `ready` (or already past it).
        case orderReady
        /// The CSR was sent (`finalizeSent`).
        case finalized
        /// The order is `valid` (`certificateURL`).
        case certificateReady
        /// The chain is downloaded (`certificatePEM`): done.
        case downloaded

        public static func < (a: Step, b: Step) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public var step: Step
    /// The requested names, first = CN.
    public var identifiers: [String]
    /// The account (JWS `kid`) the order belongs to.
    public var accountURL: String?
    public var orderURL: String?
    public var finalizeURL: String?
    public var authorizationURLs: [String]
    /// The challenges presented, so any process can accept or clean them up.
    public var challenges: [ChallengeTask]
    public var finalizeSent: Bool
    public var certificateURL: String?
    public var alternateURLs: [String]
    /// The downloaded chain, leaf first.
    public var certificatePEM: String?

    /// A fresh issuance for `identifiers` (first = CN).
    public init(identifiers: [String]) {
        self.step = .start
        self.identifiers = identifiers
        self.authorizationURLs = []
        self.challenges = []
        self.finalizeSent = false
        self.alternateURLs = []
    }

    /// True once the certificate is downloaded.
    public var isComplete: Bool { step == .downloaded }
}

/// The result of a finished issuance.
public struct IssuedCertificate: Sendable, Hashable {
    /// The chain as downloaded (or the preferred alternate), leaf first.
    public var chainPEM: String
    public var certificateURL: String
    public var orderURL: String
    /// Alternate chains the CA offers.
    public var alternateURLs: [String]
}
