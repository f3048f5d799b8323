import Testing
@testable import KaryonsCore

/// What a requester keeps from a Peers reply (RELIABILITY.md scenarios 28 and 30).
@Suite struct RelayFilterTests {
    let publicSeed = Endpoint.tcp(Fixture.publicAddress(50), 4010)
    let loopbackSeed = Endpoint.tcp(.loopbackV4, 4010)
    let lanSeed = Endpoint.tcp(.v4(0xC0A8_0105), 4010)  // 192.168.1.5

    func filter(_ responder: Endpoint, responderID: PeerID? = nil) -> RelayFilter {
        RelayFilter(localID: Fixture.localID, responderID: responderID, responder: responder)
    }

    /// Scenario 28: our own ID, the responder's ID, the all-zero ID and duplicates are dropped.
    @Test func ownResponderZeroAndDuplicateIDsAreDropped() {
        let responderID = Fixture.peerID(7)
        let good = Fixture.record(1)
        let records = [
            PeerRecord(id: Fixture.localID, address: Fixture.publicAddress(2), port: 1, discoveryPort: 2),
            PeerRecord(id: responderID, address: Fixture.publicAddress(3), port: 1, discoveryPort: 2),
            PeerRecord(id: .zero, address: Fixture.publicAddress(4), port: 1, discoveryPort: 2),
            good,
            PeerRecord(id: good.id, address: Fixture.publicAddress(5), port: 1, discoveryPort: 2),
        ]
        #expect(filter(publicSeed, responderID: responderID).filter(records) == [good])
    }

    @Test func theResponderDescribingItselfIsDropped() {
        let itself = PeerRecord(id: Fixture.peerID(8), address: publicSeed.address, port: 4000, discoveryPort: 4010)
        let neighbour = PeerRecord(id: Fixture.peerID(9), address: publicSeed.address, port: 5000, discoveryPort: 5010)
        #expect(filter(publicSeed).filter([itself, neighbour]) == [neighbour])
    }

    @Test func recordsWithoutPortsAreDropped() {
        let noData = PeerRecord(id: Fixture.peerID(1), address: Fixture.publicAddress(1), port: 0, discoveryPort: 10)
        let noDiscovery = PeerRecord(
            id: Fixture.peerID(2), address: Fixture.publicAddress(2), port: 10, discoveryPort: 0)
        #expect(filter(publicSeed).filter([noData, noDiscovery]) == [])
    }

    /// Scenario 30: loopback, LAN and unspecified addresses relayed by a public sender are dropped;
    /// loopback from loopback (local simulations) and LAN from LAN stay.
    @Test(arguments: [
        // (address, from public, from loopback, from LAN)
        (IPAddress.loopbackV4, false, true, false),
        (IPAddress.loopbackV6, false, true, false),
        (IPAddress.v4(0x0A01_0203), false, true, true),  // 10.1.2.3
        (IPAddress.v4(0xAC10_0001), false, true, true),  // 172.16.0.1
        (IPAddress.v4(0xA9FE_0101), false, true, true),  // 169.254.1.1
        (IPAddress("fd00::1")!, false, true, true),
        (IPAddress("fe80::1")!, false, true, true),
        (IPAddress.anyV4, false, false, false),
        (IPAddress.anyV6, false, false, false),
        (IPAddress.v4(0x0808_0808), true, true, true),  // 8.8.8.8
        (IPAddress("2001:db8::1")!, true, true, true),
    ])
    func relayedAddressesFollowTheSender(address: IPAddress, fromPublic: Bool, fromLoopback: Bool, fromLAN: Bool) {
        let record = PeerRecord(id: Fixture.peerID(1), address: address, port: 3000, discoveryPort: 3010)
        #expect(filter(publicSeed).accepts(record) == fromPublic)
        #expect(filter(loopbackSeed).accepts(record) == fromLoopback)
        #expect(filter(lanSeed).accepts(record) == fromLAN)
    }
}
