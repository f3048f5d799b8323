import Testing
import KaryonsCore
@testable import KaryonsNode

/// The async façade on real loopback sockets: two or more nodes in one process.
@Suite struct NodeTests {
    @Test func twoNodesConnectAndExchangeACustomProtocolBothWays() async throws {
        let listener = try Node(configuration: loopbackConfiguration(), seed: 1)
        try await listener.attach(GreeterProtocol.self)
        let listenerMail = Mailboxes.shared.open(for: listener.id)
        try await listener.start()
        let endpoint = try #require(await listener.listeningEndpoint(.peer))

        let dialler = try Node(configuration: outboundConfiguration(dialPeers: [endpoint]), seed: 2)
        try await dialler.attach(GreeterProtocol.self)
        let diallerMail = Mailboxes.shared.open(for: dialler.id)
        try await dialler.start()

        let atListener = await first(listenerMail) { $0.from == dialler.id }
        let atDialler = await first(diallerMail) { $0.from == listener.id }
        #expect(atListener?.text == "hello from \(dialler.id.shortDescription)")
        #expect(atDialler?.text == "hello from \(listener.id.shortDescription)")

        let diallerPeers = await dialler.peers
        #expect(diallerPeers.map(\.id) == [listener.id])
        #expect(diallerPeers.first?.direction == .outbound)
        #expect(Set(diallerPeers.first?.protocols ?? []) == [ProtocolID.ping, GreeterProtocol.id])
        let listenerPeers = await listener.peers
        #expect(listenerPeers.map(\.id) == [dialler.id])
        #expect(listenerPeers.first?.direction == .inbound)

        await dialler.shutdown()
        await listener.shutdown()
        #expect(await dialler.peers.isEmpty)
    }

    @Test func anIncompatibleNetworkVersionIsRefusedWithTheReasonOnBothSides() async throws {
        let listener = try Node(configuration: loopbackConfiguration(networkVersion: "0.1.0"), seed: 3)
        let listenerEvents = await listener.events
        try await listener.start()
        let endpoint = try #require(await listener.listeningEndpoint(.peer))

        let dialler = try Node(configuration: outboundConfiguration(dialPeers: [endpoint], networkVersion: "0.2.0"),
                               seed: 4)
        let diallerEvents = await dialler.events
        try await dialler.start()

        let refusedAtListener = await first(listenerEvents) {
            if case .handshakeFailed(_, .incompatibleVersion, _) = $0 { return true }
            return false
        }
        let refusedAtDialler = await first(diallerEvents) {
            if case .handshakeFailed(_, .incompatibleVersion, _) = $0 { return true }
            return false
        }
        #expect(refusedAtListener != nil)
        #expect(refusedAtDialler != nil)
        #expect(await listener.peers.isEmpty)
        #expect(await dialler.peers.isEmpty)
        await dialler.shutdown()
        await listener.shutdown()
    }

    @Test func onlyTheProtocolsBothSidesHaveRun() async throws {
        // The listener runs GREET and OTHER; the dialler runs only GREET: nobody may run OTHER.
        let listener = try Node(configuration: loopbackConfiguration(), seed: 5)
        try await listener.attach(GreeterProtocol.self)
        try await listener.attach(OtherProtocol.self)
        let listenerMail = Mailboxes.shared.open(for: listener.id)
        try await listener.start()
        let endpoint = try #require(await listener.listeningEndpoint(.peer))

        let dialler = try Node(configuration: outboundConfiguration(dialPeers: [endpoint]), seed: 6)
        try await dialler.attach(GreeterProtocol.self)
        try await dialler.start()

        // The greeting arrives through GREET; had OTHER been started, its "started" letter would be
        // posted before the instance reads anything, so it would precede or accompany the greeting.
        let letters = await first(listenerMail) { $0.protocolID == GreeterProtocol.id }
        #expect(letters != nil)
        let listenerPeers = await listener.peers
        #expect(Set(listenerPeers.first?.protocols ?? []) == [ProtocolID.ping, GreeterProtocol.id])
        await dialler.shutdown()
        await listener.shutdown()
        let other = await first(listenerMail, within: 0.2) { $0.protocolID == OtherProtocol.id }
        #expect(other == nil)
    }

    @Test func manyNodesShareOneReactorAndABroadcastReachesEachPeerOnce() async throws {
        let reactor = try Reactor()
        try reactor.start()
        defer {
            reactor.shutdown()
            reactor.waitUntilStopped()
        }
        let leafCount = 100
        let hub = try Node(configuration: loopbackConfiguration(inbound: leafCount), reactor: reactor, seed: 10)
        try await hub.attach(GreeterProtocol.self)
        let hubEvents = await hub.events
        try await hub.start()
        let endpoint = try #require(await hub.listeningEndpoint(.peer))

        var leaves: [Node] = []
        var mailboxes: [AsyncStream<Mailboxes.Letter>] = []
        for index in 0..<leafCount {
            let leaf = try Node(configuration: outboundConfiguration(dialPeers: [endpoint]), reactor: reactor,
                                seed: 100 + UInt64(index))
            try await leaf.attach(GreeterProtocol.self)
            mailboxes.append(Mailboxes.shared.open(for: leaf.id))
            try await leaf.start()
            leaves.append(leaf)
        }
        // Wait until the hub holds every leaf, then broadcast once.
        let counter = Unchecked(0)
        let allJoined = await first(hubEvents, within: 60) { event in
            if case .peerAdded = event { counter.value += 1 }
            return counter.value == leafCount
        }
        #expect(allJoined != nil)
        await hub.broadcast(Array("to everyone".utf8), protocolID: GreeterProtocol.id)
        for (leaf, mailbox) in zip(leaves, mailboxes) {
            let broadcast = await first(mailbox) { $0.text == "to everyone" }
            #expect(broadcast?.from == hub.id, "leaf \(leaf.id.shortDescription) missed the broadcast")
        }
        // Exactly once: within a grace period, no leaf receives it a second time.
        let duplicates = await withTaskGroup(of: Bool.self) { group in
            for mailbox in mailboxes {
                group.addTask { await first(mailbox, within: 0.3) { $0.text == "to everyone" } != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(duplicates == 0)
        for leaf in leaves { await leaf.shutdown() }
        await hub.shutdown()
    }

    @Test func aReactorCallbackProtocolEchoesWithoutTasks() async throws {
        let echoed = Signal()
        let listener = try Node(configuration: loopbackConfiguration(), seed: 20)
        try await listener.attachHandler(id: "ECHO", version: "0.1.0") { _ in EchoHandler() }
        try await listener.start()
        let endpoint = try #require(await listener.listeningEndpoint(.peer))

        let dialler = try Node(configuration: outboundConfiguration(dialPeers: [endpoint]), seed: 21)
        try await dialler.attachHandler(id: "ECHO", version: "0.1.0") { peer in
            ProbeHandler(peer: peer, received: echoed)
        }
        try await dialler.start()
        #expect(await echoed.wait())
        await dialler.shutdown()
        await listener.shutdown()
    }

    @Test func shutdownIsPromptAndEndsEveryStream() async throws {
        let node = try Node(configuration: loopbackConfiguration(), seed: 30)
        let events = await node.events
        try await node.start()
        await node.shutdown()
        // The stream ends (the first call returns nil without waiting for the timeout task).
        var iterator = events.makeAsyncIterator()
        var drained = 0
        while await iterator.next() != nil { drained += 1 }
        #expect(drained >= 1)  // at least the `listening` events
        let afterShutdown = await node.events
        var lateIterator = afterShutdown.makeAsyncIterator()
        #expect(await lateIterator.next() == nil)
        await #expect(throws: NodeError.self) { try await node.start() }
    }
}

/// Echoes every message back, on the reactor thread.
final class EchoHandler: PeerMessageHandler {
    func received(_ payload: [UInt8], from peer: PeerHandle) { peer.send(payload) }
    func peerDisconnected(_ peer: PeerHandle, reason: PeerRemovalReason) {}
}

/// Sends a probe when the peer connects and fires `received` when it comes back.
final class ProbeHandler: PeerMessageHandler {
    private let received: Signal

    init(peer: PeerHandle, received: Signal) {
        self.received = received
        peer.send(Array("probe".utf8))
    }

    func received(_ payload: [UInt8], from peer: PeerHandle) {
        if payload == Array("probe".utf8) { received.fire() }
    }

    func peerDisconnected(_ peer: PeerHandle, reason: PeerRemovalReason) {}
}

@Suite struct DiscoveryOnLoopbackTests {
    @Test func aSeedLooksUpThroughANodeThatBootstrappedFromIt() async throws {
        var seedConfiguration = try loopbackConfiguration()
        seedConfiguration.lookupListener = try Endpoint(parsing: "tcp://127.0.0.1:0")
        let seed = try Node(configuration: seedConfiguration, seed: 40)
        let seedEvents = await seed.events
        try await seed.start()
        let seedLookup = try #require(await seed.listeningEndpoint(.lookup))

        var joinerConfiguration = try loopbackConfiguration()
        joinerConfiguration.lookupListener = try Endpoint(parsing: "tcp://127.0.0.1:0")
        joinerConfiguration.bootstrapPeers = [seedLookup]
        let joiner = try Node(configuration: joinerConfiguration, seed: 41)
        try await joiner.start()
        let joinerLookup = try #require(await joiner.listeningEndpoint(.lookup))

        // The joiner's Peer message puts it in the seed's table; the seed then seeds through it.
        let outcome = await first(seedEvents, within: 30) { event in
            switch event {
            case .lookupSucceeded(let endpoint, _), .lookupFailed(let endpoint, _): return endpoint == joinerLookup
            default: return false
            }
        }
        if case .lookupFailed(_, let reason) = outcome { Issue.record("lookup through the joiner failed: \(reason)") }
        #expect(outcome != nil)
        await joiner.shutdown()
        await seed.shutdown()
    }
}
