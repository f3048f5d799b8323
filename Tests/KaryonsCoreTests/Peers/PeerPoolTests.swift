import Testing

@testable import KaryonsCore

/// Slots, the inbound subnet cap, duplicates and the simultaneous-open tie-break
/// (RELIABILITY.md 13, 18, 37, 40).
@Suite struct PeerPoolTests {
    typealias F = PeerFixtures

    func connection(_ slot: UInt32) -> ConnectionID { ConnectionID(slot: slot, generation: 0) }

    func pool(local: PeerID = F.small, inbound: Int = 12, outbound: Int = 12, perSubnet: Int = 2) -> PeerPool {
        PeerPool(limits: .init(inbound: inbound, outbound: outbound, inboundPerSubnet: perSubnet), localID: local)
    }

    @Test func inboundSlotsRunOutAndComeBackOnRelease() {
        var pool = pool(inbound: 3, perSubnet: 10)
        for slot in 0..<3 {
            #expect(pool.openInbound(connection(UInt32(slot)), from: IPAddress("10.0.\(slot).1")!) == nil)
        }
        #expect(pool.openInbound(connection(3), from: IPAddress("10.0.9.1")!) == .noFreeSlot)
        #expect(pool.inboundCount == 3)
        pool.release(connection(1))
        #expect(pool.openInbound(connection(3), from: IPAddress("10.0.9.1")!) == nil)
        #expect(pool.checkInvariants(live: [connection(0), connection(2), connection(3)]).isEmpty)
    }

    @Test func outboundSlotsCountDialsInFlightAndAreIndependentOfInbound() {
        var pool = pool(inbound: 1, outbound: 2)
        #expect(pool.openInbound(connection(0), from: IPAddress("10.0.0.1")!) == nil)
        #expect(pool.openInbound(connection(1), from: IPAddress("10.0.1.1")!) == .noFreeSlot)
        #expect(pool.hasFreeOutboundSlot, "a full inbound side does not stop dialling")
        pool.openOutbound(connection(2))
        pool.openOutbound(connection(3))
        #expect(!pool.hasFreeOutboundSlot)
        pool.release(connection(2))
        #expect(pool.hasFreeOutboundSlot)
        #expect(pool.outboundCount == 1)
    }

    @Test func inboundPerSubnetCapAppliesToIPv4Slash24AndIPv6Slash64() {
        var pool = pool(perSubnet: 2)
        #expect(pool.openInbound(connection(0), from: IPAddress("203.0.113.1")!) == nil)
        #expect(pool.openInbound(connection(1), from: IPAddress("203.0.113.200")!) == nil)
        #expect(pool.openInbound(connection(2), from: IPAddress("203.0.113.7")!) == .subnetFull)
        #expect(pool.openInbound(connection(3), from: IPAddress("203.0.114.7")!) == nil, "another /24")
        #expect(pool.openInbound(connection(4), from: IPAddress("2001:db8:1:2::1")!) == nil)
        #expect(pool.openInbound(connection(5), from: IPAddress("2001:db8:1:2:ffff::9")!) == nil)
        #expect(pool.openInbound(connection(6), from: IPAddress("2001:db8:1:2::77")!) == .subnetFull)
        #expect(pool.openInbound(connection(7), from: IPAddress("2001:db8:1:3::1")!) == nil, "another /64")
        // IPv4-mapped IPv6 counts as its IPv4 /24.
        #expect(pool.openInbound(connection(8), from: IPAddress("::ffff:203.0.113.9")!) == .subnetFull)
        pool.release(connection(0))
        #expect(pool.openInbound(connection(2), from: IPAddress("203.0.113.7")!) == nil)
    }

    @Test func loopbackIsExemptFromTheSubnetCap() {
        var pool = pool(perSubnet: 1)
        for slot in 0..<5 { #expect(pool.openInbound(connection(UInt32(slot)), from: .loopbackV4) == nil) }
        #expect(pool.openInbound(connection(5), from: .loopbackV6) == nil)
    }

    @Test func joinAdmitsAPeerOnce() {
        var pool = pool()
        pool.openOutbound(connection(0))
        pool.openOutbound(connection(1))
        #expect(pool.join(F.large, on: connection(0)) == .joined)
        #expect(pool.connection(of: F.large) == connection(0))
        #expect(pool.join(F.large, on: connection(1)) == .duplicate(of: connection(0)), "two dials to one peer")
        pool.release(connection(1))
        #expect(pool.connection(of: F.large) == connection(0), "releasing the refused duplicate keeps the member")
        pool.release(connection(0))
        #expect(pool.connection(of: F.large) == nil)
        #expect(pool.memberCount == 0)
    }

    @Test func twoInboundConnectionsFromOnePeerKeepTheFirst() {
        var pool = pool(local: F.large)
        #expect(pool.openInbound(connection(0), from: .loopbackV4) == nil)
        #expect(pool.openInbound(connection(1), from: .loopbackV4) == nil)
        #expect(pool.join(F.small, on: connection(0)) == .joined)
        #expect(pool.join(F.small, on: connection(1)) == .duplicate(of: connection(0)))
    }

    /// A dials B (connection "AB") while B dials A ("BA"). Both nodes must keep the one dialled by
    /// the smaller ID, whichever handshake finishes first at either node.
    @Test(arguments: [true, false], [true, false])
    func simultaneousOpenKeepsTheConnectionDialledByTheSmallerID(localIsSmaller: Bool, outboundFirst: Bool) {
        let local = localIsSmaller ? F.small : F.large
        let remote = localIsSmaller ? F.large : F.small
        var pool = pool(local: local)
        let outbound = connection(0)  // Dialled by local.
        let inbound = connection(1)  // Dialled by remote.
        pool.openOutbound(outbound)
        #expect(pool.openInbound(inbound, from: .loopbackV4) == nil)
        let keeper = localIsSmaller ? outbound : inbound
        let loser = localIsSmaller ? inbound : outbound
        let (first, second) = outboundFirst ? (outbound, inbound) : (inbound, outbound)

        #expect(pool.join(remote, on: first) == .joined)
        let decision = pool.join(remote, on: second)
        switch (second == keeper, second == inbound) {
        case (true, false):
            #expect(decision == .joinedReplacing(first))
        case (true, true):
            // A listener's keeper replaces the older connection once the dialler confirms it.
            #expect(decision == .successor(of: first))
            #expect(pool.connection(of: remote) == first)
            #expect(pool.checkInvariants(live: [first, second]).isEmpty)
            #expect(pool.confirm(second) == first)
        case (false, _):
            #expect(decision == .duplicate(of: first))
        }
        #expect(pool.connection(of: remote) == keeper)
        #expect(pool.confirm(keeper) == nil, "a member has nothing left to replace")
        pool.release(loser)
        #expect(pool.connection(of: remote) == keeper)
        #expect(pool.checkInvariants(live: [keeper]).isEmpty)
    }

    /// A successor that is never confirmed leaves the older connection the peer's; if the older one
    /// ends first, the successor carries the peer. Either way the invariants hold at every step.
    @Test(arguments: [true, false])
    func aSuccessorIsDroppedOrTakesOverDependingOnWhichConnectionEndsFirst(successorEndsFirst: Bool) {
        var pool = pool(local: F.large)
        let older = connection(0)  // Our dial, established.
        let successor = connection(1)  // The smaller remote's dial, awaiting its confirmation.
        pool.openOutbound(older)
        #expect(pool.openInbound(successor, from: .loopbackV4) == nil)
        #expect(pool.join(F.small, on: older) == .joined)
        #expect(pool.join(F.small, on: successor) == .successor(of: older))
        #expect(pool.peer(on: successor) == F.small)
        #expect(pool.checkInvariants(live: [older, successor]).isEmpty)

        let third = connection(2)
        #expect(pool.openInbound(third, from: .loopbackV4) == nil)
        #expect(pool.join(F.small, on: third) == .duplicate(of: successor), "one successor at a time")
        pool.release(third)

        let (ending, staying) = successorEndsFirst ? (successor, older) : (older, successor)
        pool.release(ending)
        #expect(pool.connection(of: F.small) == staying)
        #expect(pool.confirm(staying) == nil)
        #expect(pool.checkInvariants(live: [staying]).isEmpty)
    }

    @Test func bothNodesAgreeOnTheKeeper() {
        // The same two connections seen from each end: "AB" is outbound at A and inbound at B.
        var atSmall = pool(local: F.small)
        var atLarge = pool(local: F.large)
        let smallDialled = connection(0)
        let largeDialled = connection(1)
        atSmall.openOutbound(smallDialled)
        _ = atSmall.openInbound(largeDialled, from: .loopbackV4)
        atLarge.openOutbound(largeDialled)
        _ = atLarge.openInbound(smallDialled, from: .loopbackV4)
        // Opposite orders at the two nodes.
        _ = atSmall.join(F.large, on: largeDialled)
        _ = atSmall.join(F.large, on: smallDialled)
        _ = atLarge.join(F.small, on: smallDialled)
        _ = atLarge.join(F.small, on: largeDialled)
        #expect(atSmall.connection(of: F.large) == smallDialled)
        #expect(atLarge.connection(of: F.small) == smallDialled)
    }

    @Test func invariantsCatchAMissingConnection() {
        var pool = pool()
        pool.openOutbound(connection(0))
        #expect(!pool.checkInvariants(live: []).isEmpty)
        #expect(pool.checkInvariants(live: [connection(0)]).isEmpty)
    }
}
