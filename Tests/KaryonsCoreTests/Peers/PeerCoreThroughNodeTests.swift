import Testing

@testable import KaryonsCore

/// The peer half through `NodeCore`, in bytes: a scripted remote reads our frames and answers.
@Suite struct PeerCoreThroughNodeTests {
    typealias F = PeerFixtures
    let dialler = F.endpoint("10.0.0.9", 40000)

    func verack(_ id: PeerID, _ protocols: [ProtocolID] = [.ping, "CHAT"]) -> PeerMessage {
        F.accepted(by: id, protocols)
    }

    func rejection(_ reason: DisconnectReason) -> PeerMessage {
        F.rejected(by: F.small, reason)
    }

    @Test func inboundHandshakeFedOneByteAtATimeThenMessagesFlow() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        remote.send(F.identity(F.large, protocols: [F.chat]).versionMessage, to: &scripted, chunk: 1)
        #expect(remote.read(&scripted) == [verack(F.small)])
        #expect(scripted.core.peers.isEmpty, "established only once the dialler confirms")
        remote.send(verack(F.large), to: &scripted, chunk: 1)
        let info = PeerInfo(id: F.large, direction: .inbound, endpoint: dialler, protocols: [.ping, "CHAT"])
        #expect(scripted.outputs.contains(.peerConnected(info)))
        #expect(scripted.core.peers == [info])

        remote.send(.protocol(id: "CHAT", payload: Array("hello".utf8)), to: &scripted)
        #expect(scripted.outputs.last == .deliver(from: F.large, protocolID: "CHAT", payload: Array("hello".utf8)))
        scripted.handle(.command(.send(to: F.large, protocolID: "CHAT", payload: [1, 2])))
        #expect(scripted.outputs.contains(.transmit(remote.connection)))
        #expect(remote.read(&scripted) == [.protocol(id: "CHAT", payload: [1, 2])])
        scripted.expectConsistent()
    }

    @Test func garbageDuringTheHandshakeIsRefusedWithAReason() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        remote.send(bytes: [0, 0, 0, 1, 0x7F], to: &scripted)  // A frame of an unknown kind.
        #expect(remote.read(&scripted) == [rejection(.malformedMessage)])
        #expect(scripted.closed(remote))
        #expect(scripted.events.contains(.handshakeFailed(dialler, .malformedMessage, byRemote: false)))
        #expect(scripted.core.statistics.protocolViolations == 1)
        scripted.expectConsistent()
    }

    @Test func lookupFrameOnAPeerConnectionIsRefused() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        var writer = ByteWriter()
        LookupMessage.findPeer(target: F.large).encodeFrame(into: &writer)
        remote.send(bytes: writer.takeBytes(), to: &scripted)
        #expect(remote.read(&scripted) == [rejection(.malformedMessage)])
        #expect(scripted.closed(remote))
    }

    @Test func protocolFrameBeforeVersionIsRefused() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        remote.send(.protocol(id: "CHAT", payload: [1]), to: &scripted)
        #expect(remote.read(&scripted) == [rejection(.malformedMessage)])
        #expect(scripted.delivered.isEmpty)
    }

    @Test func secondVersionAfterTheHandshakeClosesTheConnection() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        remote.handshake(as: F.large, to: &scripted)
        #expect(scripted.core.peers.map(\.id) == [F.large])
        remote.send(F.identity(F.large, protocols: [F.chat]).versionMessage, to: &scripted)
        #expect(remote.read(&scripted) == [.shutdown(.malformedMessage)])
        #expect(
            scripted.outputs.contains(
                .peerDisconnected(F.large, reason: .protocolViolation("version after the handshake"))
            )
        )
        scripted.expectConsistent()
    }

    /// Dials F.large, which accepts: the established outbound peer's remote end, our confirmation read.
    private func dialledPeer(_ scripted: inout TestNode) throws -> RemoteEnd {
        let dialled = scripted.dial(F.endpoint("10.0.0.2", 7000), expected: F.large)
        var remote = try #require(dialled)
        _ = remote.read(&scripted)
        remote.send(verack(F.large), to: &scripted)
        #expect(remote.read(&scripted) == [verack(F.small)], "our confirmation")
        return remote
    }

    /// The nonce of the one Ping in `frames`; nil, recording why, if `frames` are not one Ping.
    private func onePing(_ frames: [PeerMessage], at time: String) throws -> Nonce? {
        guard frames.count == 1, case .protocol(.ping, let payload)? = frames.first,
            case .ping(let nonce) = try PingPayload(parsing: payload)
        else {
            Issue.record("one ping must go out at \(time): \(frames)")
            return nil
        }
        return nonce
    }

    @Test func outboundHandshakeThenKeepAliveOnTheWire() throws {
        var scripted = TestNode()
        let dialled = scripted.dial(F.endpoint("10.0.0.2", 7000), expected: F.large)
        var remote = try #require(dialled)
        #expect(remote.read(&scripted) == [F.identity(F.small, protocols: [F.chat]).versionMessage])
        remote.send(verack(F.large), to: &scripted)
        #expect(remote.read(&scripted) == [verack(F.small)], "our confirmation")
        #expect(scripted.core.peers.map(\.id) == [F.large])

        scripted.advance(to: F.t(20))
        guard let nonce = try onePing(remote.read(&scripted), at: "20 s") else { return }
        remote.send(.protocol(id: .ping, payload: F.pong(nonce)), to: &scripted)
        // The next ping is due 20 s after the first (discovery's timers run meanwhile, so the node's
        // next deadline may be earlier): nothing on this connection before, a ping at 40 s.
        scripted.advance(to: F.t(39.999))
        #expect(remote.read(&scripted) == [])
        scripted.advance(to: F.t(40))
        guard let secondNonce = try onePing(remote.read(&scripted), at: "40 s") else { return }
        remote.send(.protocol(id: .ping, payload: F.pong(secondNonce)), to: &scripted)
        // The remote pings too (a karyons peer pings from both ends), and is answered at once. It
        // checks the connection itself, so ours waits until its next ping is overdue: 40.5 + 22 s.
        scripted.advance(to: F.t(40.5))
        remote.send(.protocol(id: .ping, payload: F.ping(Nonce(4, 3, 2, 1))), to: &scripted)
        #expect(remote.read(&scripted) == [.protocol(id: .ping, payload: F.pong(Nonce(4, 3, 2, 1)))])
        scripted.advance(to: F.t(62.499))
        #expect(remote.read(&scripted) == [], "no ping while the remote's are due")
        scripted.advance(to: F.t(62.5))
        #expect(try onePing(remote.read(&scripted), at: "62.5 s") != nil)
        #expect(scripted.delivered.isEmpty)
        scripted.expectConsistent()
    }

    /// Network input: a peer that floods Pings gets every one answered (the send-queue limits bound
    /// the answers), and all the flood moves is our one keep-alive deadline for the connection, past
    /// the last Ping: no timer per Ping, no ping of ours while they come. Sent in one read (the frame
    /// decoder) and one read per frame (the keep-alive shortcut).
    @Test(arguments: [false, true])
    func aPingFloodIsAnsweredAndMovesOnlyOurOneKeepAliveDeadline(oneReadPerFrame: Bool) throws {
        var scripted = TestNode()
        var remote = try dialledPeer(&scripted)
        let scheduled = scripted.core.testsOnly_scheduledDeadlines
        scripted.advance(to: F.t(19))
        let nonces = (0..<5_000).map { Nonce(UInt64($0), 7, 7, 7) }
        var flood = ByteWriter()
        for nonce in nonces { try PeerMessage.protocol(id: .ping, payload: F.ping(nonce)).encodeFrame(into: &flood) }
        remote.send(bytes: flood.takeBytes(), to: &scripted, chunk: oneReadPerFrame ? PingPayload.frameSize : nil)
        #expect(remote.read(&scripted) == nonces.map { .protocol(id: .ping, payload: F.pong($0)) })
        #expect(scripted.core.testsOnly_scheduledDeadlines == scheduled, "one deadline per connection, moved in place")
        scripted.advance(to: F.t(40.999))
        #expect(remote.read(&scripted) == [], "our ping waits until the flooder's next is overdue: 19 + 22 s")
        scripted.advance(to: F.t(41))
        #expect(try onePing(remote.read(&scripted), at: "41 s") != nil)
        scripted.expectConsistent()
    }

    /// The receive path's keep-alive shortcut (a read that is exactly one Ping-protocol frame skips
    /// the frame decoder) must answer as the decoder does. Two nodes in the same state get the same
    /// random keep-alive traffic (pings, pongs to our pings, stale pongs, part of a frame left
    /// buffered before whole ones) over ten minutes, one in whole frames, the other in chunks that
    /// all go through the decoder; their replies, deadlines and peers must stay the same.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func keepAliveFramesWholeOrInChunksAreHandledAlike(seed: UInt64) throws {
        var whole = TestNode()
        var chunked = TestNode()
        var wholeRemote = try dialledPeer(&whole)
        var chunkedRemote = try dialledPeer(&chunked)
        var rng = SplitMix64(seed: seed)
        var ourPing: Nonce?
        var heldBack: [UInt8] = []
        func frame(_ payload: PingPayload) -> [UInt8] {
            var writer = ByteWriter()
            payload.encodeFrame(into: &writer)
            return writer.takeBytes()
        }
        func send(_ bytes: [UInt8]) {
            wholeRemote.send(bytes: bytes, to: &whole)
            // Chunks shorter than the read, so that none of them is a whole frame.
            chunkedRemote.send(bytes: bytes, to: &chunked, chunk: bytes.count > 1 ? 1 + rng.index(below: bytes.count - 1) : 1)
        }
        /// Sends the rest of a held-back frame first, in its own read, so that the stream stays whole.
        func sendAfterHeldBack(_ bytes: [UInt8]) {
            if !heldBack.isEmpty { send(heldBack) }
            heldBack = []
            send(bytes)
        }
        var time = 0.0
        while time < 600 {
            time += Double(rng.index(below: 8_000)) / 1_000
            whole.advance(to: F.t(time))
            chunked.advance(to: F.t(time))
            let replies = wholeRemote.read(&whole)
            #expect(chunkedRemote.read(&chunked) == replies, "replies at \(time) s")
            for case .protocol(.ping, let payload) in replies {
                if case .ping(let nonce) = try PingPayload(parsing: payload) { ourPing = nonce }
            }
            // Weighted so that our own pings go out and are mostly answered (a ping from the remote
            // defers ours), and quiet steps let some go unanswered.
            switch rng.index(below: 8) {
            case 0: sendAfterHeldBack(frame(.ping(.random(using: &rng))))
            case 1, 2, 3: if let nonce = ourPing { sendAfterHeldBack(frame(.pong(nonce))); ourPing = nil }
            case 4: sendAfterHeldBack(frame(.pong(.random(using: &rng))))
            case 5 where heldBack.isEmpty:
                // The first part of a ping: the node holds it until the rest comes.
                let next = frame(.ping(.random(using: &rng)))
                let split = 1 + rng.index(below: next.count - 1)
                send(Array(next[..<split]))
                heldBack = Array(next[split...])
            default:
                // The rest of a held-back ping and a whole one in one read.
                if !heldBack.isEmpty { send(heldBack + frame(.ping(.random(using: &rng)))) }
                heldBack = []
            }
            let replied = wholeRemote.read(&whole)
            #expect(chunkedRemote.read(&chunked) == replied, "replies to what came at \(time) s")
            #expect(chunked.core.nextDeadline == whole.core.nextDeadline, "the next deadline at \(time) s")
            #expect(chunked.core.peers == whole.core.peers)
        }
        whole.expectConsistent()
        chunked.expectConsistent()
    }

    /// A read that looks exactly like a Ping frame but completes another frame already begun is
    /// that frame's body: the keep-alive shortcut must not take it for a ping.
    @Test func aPingFrameImageInsideAnotherFrameIsThatFramesPayload() throws {
        var scripted = TestNode()
        let remote = try dialledPeer(&scripted)
        var image = ByteWriter()
        PingPayload.ping(Nonce(9, 9, 9, 9)).encodeFrame(into: &image)
        let pingImage = image.takeBytes()
        var chat = ByteWriter()
        try PeerMessage.protocol(id: "CHAT", payload: pingImage).encodeFrame(into: &chat)
        let chatFrame = chat.takeBytes()
        remote.send(bytes: Array(chatFrame.dropLast(pingImage.count)), to: &scripted)
        #expect(scripted.delivered.isEmpty)
        remote.send(bytes: pingImage, to: &scripted)
        #expect(scripted.delivered.map(\.1) == [pingImage], "the CHAT payload, delivered")
        var reader = remote
        #expect(reader.read(&scripted) == [], "no pong")
        scripted.expectConsistent()
    }

    @Test func pausedDeliveryHoldsFramesUntilResumed() {
        var scripted = TestNode()
        var remote = scripted.accept(from: dialler)
        remote.handshake(as: F.large, to: &scripted)
        scripted.handle(.command(.pauseDelivery(F.large, paused: true)))
        #expect(scripted.outputs.last == .pauseReading(remote.connection, paused: true))
        // Bytes the driver had already read arrive; nothing is delivered while paused.
        remote.send(.protocol(id: "CHAT", payload: [1]), to: &scripted)
        remote.send(.protocol(id: "CHAT", payload: [2]), to: &scripted)
        #expect(scripted.delivered.isEmpty)
        scripted.handle(.command(.pauseDelivery(F.large, paused: false)))
        #expect(scripted.delivered.map(\.1) == [[1], [2]])
        scripted.expectConsistent()
    }

    @Test func peerThatDoesNotReadIsClosedAfterTheStallTimeout() {
        var scripted = TestNode { $0.peers.sendStallTimeout = .seconds(10) }
        var remote = scripted.accept(from: dialler)
        remote.handshake(as: F.large, to: &scripted)
        scripted.advance(to: F.t(1))
        scripted.handle(.sendQueue(remote.connection, isAboveHighWatermark: true))
        scripted.advance(to: F.t(10.999))
        #expect(scripted.core.peers.count == 1)
        scripted.advance(to: F.t(11))
        #expect(scripted.outputs.contains(.peerDisconnected(F.large, reason: .sendStalled)))
        #expect(scripted.closed(remote))
        scripted.expectConsistent()
    }

    @Test func halfOpenFloodFromOneSubnetIsRefusedWhileTheEstablishedPeerLives() throws {
        // RELIABILITY.md 12, 13: 1000 connections from one /24 that never speak.
        var scripted = TestNode()
        var peer = try dialledPeer(&scripted)
        let flood = (0..<1_000).map {
            scripted.accept(from: F.endpoint("203.0.113.\(1 + $0 % 250)", UInt16(20_000 + $0)))
        }
        let closed = Set(scripted.outputs.compactMap(\.closedConnection))
        let refusedAtOnce = flood.filter { closed.contains($0.connection) }.count
        #expect(refusedAtOnce == 998, "the subnet cap admits 2")
        #expect(scripted.core.connectionCount(.peer) == 3)
        // The two admitted ones time out; the established peer keeps pinging and answering.
        scripted.advance(to: F.t(2))
        #expect(scripted.core.connectionCount(.peer) == 1)
        scripted.advance(to: F.t(20))
        let sent = peer.read(&scripted)
        guard case .protocol(.ping, let payload)? = sent.first,
            case .ping(let nonce) = try PingPayload(parsing: payload)
        else {
            Issue.record("the established peer is still pinged: \(sent)")
            return
        }
        peer.send(.protocol(id: .ping, payload: F.pong(nonce)), to: &scripted)
        #expect(scripted.core.peers.map(\.id) == [F.large])
        // The inbound slots are free again.
        let later = scripted.accept(from: F.endpoint("203.0.113.7", 30000))
        #expect(!scripted.closed(later))
        scripted.expectConsistent()
    }

    @Test func shutdownDuringHandshakesLeavesNoConnectionOrTimer() throws {
        var scripted = TestNode()
        var inbound = scripted.accept(from: dialler)
        let dialled = scripted.dial(F.endpoint("10.0.0.2", 7000))
        var outbound = try #require(dialled)
        _ = outbound.read(&scripted)
        scripted.core.testsOnly_dial(F.endpoint("10.0.0.3", 7000), expected: nil, now: scripted.now)
        scripted.drain()
        #expect(scripted.core.connectionCount(.peer) == 3)

        scripted.handle(.command(.shutdown))
        #expect(inbound.read(&scripted) == [.shutdown(.shuttingDown)])
        #expect(outbound.read(&scripted) == [.shutdown(.shuttingDown)])
        #expect(scripted.outputs.last == .stopped)
        #expect(scripted.core.connectionCount(.peer) == 0)
        #expect(scripted.core.nextDeadline == nil)
        scripted.expectConsistent()
        // Late events about the old connections are dropped.
        inbound.send(F.identity(F.large).versionMessage, to: &scripted)
        #expect(scripted.outputs.filter(\.isPeerConnected).isEmpty)
    }
}
