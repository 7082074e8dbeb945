import CertFleetCore
import Foundation
import Testing

struct DomainOwnershipTests {
    @Test func zonesRunFromTheNameToItsTopLevelDomain() {
        #expect(DomainOwnership.zones(containing: "*.a.example.com") == ["a.example.com", "example.com", "com"])
        #expect(DomainOwnership.zones(containing: "example.com.") == ["example.com", "com"])
        #expect(DomainOwnership.zones(containing: "localhost") == ["localhost"])
    }

    @Test func theMostSpecificVerifiedZoneDecides() {
        let a = UUID(), b = UUID()
        let verified = ["example.com": a, "shop.example.com": b]
        #expect(DomainOwnership.namesNotOwned(["example.com", "*.example.com", "x.y.example.com"], by: a, verified: verified).isEmpty)
        #expect(
            DomainOwnership.namesNotOwned(["www.shop.example.com", "shop.example.com"], by: a, verified: verified)
                == ["www.shop.example.com", "shop.example.com"])
        #expect(DomainOwnership.namesNotOwned(["*.shop.example.com"], by: b, verified: verified).isEmpty)
        #expect(DomainOwnership.namesNotOwned(["example.org"], by: a, verified: verified) == ["example.org"])
        #expect(DomainOwnership.namesNotOwned(["example.com"], by: b, verified: verified) == ["example.com"])
    }
}
