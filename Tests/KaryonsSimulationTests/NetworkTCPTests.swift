import KaryonsCore
import KaryonsSimulation
import Testing

/// TCP semantics of the virtual network, driven with fake nodes. Links have a fixed 10 ms one-way
/// latency and no jitter unless a test says otherwise, so times can be asserted exactly.
@Suite("Virtual network: TCP")
struct NetworkTCPTests {
    /// Two started hosts: 0 dials, 1 listens on tcp 30000 (and udp 30010) and echoes if asked.
    private func pair(link: LinkConditions? = nil, partitions: [Partition] = [], echoes: Bool = false)
        -> VirtualNetwork<FakeNode>
    {
        let network: VirtualNetwork<FakeNode>
        if let link {
            network = makeFakeNetwork(hosts: 2, link: link, partitions: partitions) { listeningOptions($0, echoes: echoes && $0 == 1) }
        } else {
            network = makeFakeNetwork(hosts: 2, partitions: partitions) { listeningOptions($0, echoes: echoes && $0 == 1) }
        }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        return network
    }

    private func connect(_ network: VirtualNetwork<FakeNode>, timeout: Duration = .seconds(5)) -> ConnectionID {
        network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000), timeout: timeout) }!
    }

    /// A pair whose host 0 connected to host 1 and, at 50 ms, is past the handshake; with the ID
    /// host 0 holds.
    private func connectedPair() -> (network: VirtualNetwork<FakeNode>, id: ConnectionID) {
        let network = pair()
        let id = connect(network)
        network.run(until: .ms(50))
        return (network, id)
    }

    @Test("connect: the acceptor gets the initiator's ephemeral endpoint, the initiator `.connected` one round trip later")
    func connectHandshake() throws {
        let network = pair()
        let id = connect(network)
        network.run(until: .ms(100))
        let dialler = try #require(network.node(0))
        let listener = try #require(network.node(1))
        #expect(dialler.firstTime { $0 == .connected(id) } == .ms(21))
        let accepted = try #require(listener.log.first { if case .accepted = $0.record { return true } else { return false } })
        #expect(accepted.time == .ms(11))
        #expect(accepted.record == .accepted(listener.acceptedIDs[0], .peer, from: .tcp(testAddress(0), 32_768)))
        #expect(network.counters.connectsAccepted == 1)
        #expect(network.violations.isEmpty)
    }

    @Test("bytes arrive whole and in order although every segment has its own jitter")
    func orderedStream() throws {
        let network = pair(link: LinkConditions(latency: .milliseconds(20)...Duration.milliseconds(20), jitter: .milliseconds(30)))
        let id = connect(network)
        network.run(until: .ms(200))
        var expected: [UInt8] = []
        for chunk in 0..<60 {
            network.run(until: .ms(200 + UInt64(chunk)))
            let bytes = [UInt8](repeating: UInt8(chunk), count: chunk + 1)
            expected += bytes
            network.interact(with: 0) { $0.write(bytes, on: id) }
        }
        network.run(until: .seconds(2))
        let listener = try #require(network.node(1))
        let acceptedID = try #require(listener.acceptedIDs.first)
        #expect(listener.bytesReceived(on: acceptedID) == expected)
        let firstRead = try #require(listener.firstTime { if case .received = $0 { return true } else { return false } })
        #expect(firstRead >= .ms(220), "no byte may arrive faster than the link's latency")
        #expect(network.counters.readsDelivered > 1)
    }

    @Test("an echo over one connection comes back in order")
    func echo() throws {
        let network = pair(echoes: true)
        let id = connect(network)
        network.run(until: .ms(50))
        let message: [UInt8] = Array(0..<200)
        network.interact(with: 0) { $0.write(message, on: id) }
        network.run(until: .ms(200))
        let dialler = try #require(network.node(0))
        #expect(dialler.bytesReceived(on: id) == message)
        #expect(dialler.firstTime { if case .received = $0 { return true } else { return false } } == .ms(70))
    }

    @Test("connect to a host with no listener on the port is refused after one round trip")
    func refusedWithoutListener() throws {
        let network = pair()
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_001)) }!
        network.run(until: .seconds(1))
        #expect(network.node(0)?.log.last == Timed(time: .ms(21), record: .connectFailed(id, .refused)))
        #expect(network.counters.connectsRefused == 1)
        #expect(network.node(1)?.acceptedIDs.isEmpty == true)
    }

    @Test("connect to a host whose node is down is refused")
    func refusedWhenDown() throws {
        let network = makeFakeNetwork(hosts: 2) { listeningOptions($0) }
        network.start(0, at: .zero)
        network.run(until: .ms(1))
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.run(until: .seconds(1))
        #expect(network.node(0)?.records.last == .connectFailed(id, .refused))
    }

    @Test("connect to an address nobody has times out exactly at its timeout")
    func timeoutForUnknownAddress() throws {
        let network = pair()
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(9), 30_000), timeout: .seconds(3)) }!
        network.run(until: .seconds(10))
        #expect(network.node(0)?.log.last == Timed(time: .ms(3_001), record: .connectFailed(id, .timedOut)))
        #expect(network.counters.connectsTimedOut == 1)
    }

    @Test("an RST that would come after the connect timeout is never seen: the connect times out")
    func lateRefusalTimesOut() throws {
        let network = pair()
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_001), timeout: .milliseconds(15)) }!
        network.run(until: .seconds(1))
        #expect(network.node(0)?.log.last == Timed(time: .ms(16), record: .connectFailed(id, .timedOut)))
        #expect(network.node(0)?.records.contains(.connectFailed(id, .refused)) == false)
        #expect(network.counters.connectsTimedOut == 1 && network.counters.connectsRefused == 0)
        #expect(network.connectionCount == 0)
    }

    @Test("a SYN that arrives at the connect deadline finds the connect timed out: no accept")
    func synAtTheDeadlineIsNotAccepted() throws {
        let network = pair()
        // One-way latency 10 ms: the SYN sent at 1 ms arrives at 11 ms, the deadline.
        let id = connect(network, timeout: .milliseconds(10))
        network.run(until: .seconds(1))
        #expect(network.node(0)?.log.last == Timed(time: .ms(11), record: .connectFailed(id, .timedOut)))
        #expect(network.node(1)?.acceptedIDs.isEmpty == true)
        #expect(network.connectionCount == 0)
    }

    @Test("a connect answered in time schedules no timeout event")
    func answeredConnectSchedulesNoTimeout() throws {
        let network = pair()
        let before = network.counters.events
        _ = connect(network, timeout: .seconds(5))
        network.run(until: .seconds(10))
        // SYN arrives, SYN-ACK arrives: two events (the fake nodes write nothing on connect).
        #expect(network.counters.events - before == 2)
        #expect(network.pendingEventCount == 0)
    }

    @Test("a SYN-ACK that comes after the connect timeout resets the acceptor's end")
    func lateSynAckResetsAcceptor() throws {
        let network = pair()
        let id = connect(network, timeout: .milliseconds(15))
        network.run(until: .seconds(1))
        let listener = try #require(network.node(1))
        let acceptedID = try #require(listener.acceptedIDs.first)
        #expect(network.node(0)?.log.last == Timed(time: .ms(16), record: .connectFailed(id, .timedOut)))
        #expect(listener.log.last == Timed(time: .ms(26), record: .closed(acceptedID, .reset)))
        #expect(network.connectionCount == 0)
    }

    @Test("a partition swallows SYNs (connect times out); after it heals, connects succeed")
    func connectAcrossPartition() throws {
        let partition = Partition(fraction: 0.5, start: .zero, end: .ms(8_000))
        let network = findSplitNetwork(partition: partition)
        let failed = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000), timeout: .seconds(2)) }!
        network.run(until: .ms(9_000))
        #expect(network.node(0)?.records.contains(.connectFailed(failed, .timedOut)) == true)
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.run(until: .ms(10_000))
        #expect(network.node(0)?.firstTime { $0 == .connected(id) } == .ms(9_020))
    }

    @Test("a SYN sent just before a partition heals is retransmitted and gets through after the heal")
    func synRetransmittedAfterHeal() throws {
        let partition = Partition(fraction: 0.5, start: .zero, end: .ms(2_500))
        let network = findSplitNetwork(partition: partition)
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000), timeout: .seconds(5)) }!
        network.run(until: .seconds(10))
        // Attempts at 1 ms, 1001 ms (cut), then 3001 ms (open): connected one round trip later.
        #expect(network.node(0)?.firstTime { $0 == .connected(id) } == .ms(3_021))
    }

    @Test("bytes written during a partition are held and delivered after it heals, in order")
    func dataHeldDuringPartition() throws {
        let partition = Partition(fraction: 0.5, start: .ms(1_000), end: .ms(3_000))
        let network = findSplitNetwork(partition: partition)
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.run(until: .ms(1_500))
        network.interact(with: 0) { $0.write([1, 2, 3], on: id) }
        network.run(until: .ms(1_600))
        network.interact(with: 0) { $0.write([4, 5], on: id) }
        network.run(until: .seconds(5))
        let listener = try #require(network.node(1))
        let acceptedID = try #require(listener.acceptedIDs.first)
        #expect(listener.bytesReceived(on: acceptedID) == [1, 2, 3, 4, 5])
        #expect(listener.firstTime { if case .received = $0 { return true } else { return false } } == .ms(3_010))
    }

    @Test("close: the remote reads every byte, then `.closed(closedByPeer)`; the network forgets the connection")
    func gracefulClose() throws {
        let (network, id) = connectedPair()
        network.interact(with: 0) { node in
            node.write([9, 8, 7], on: id)
            node.close(id)
        }
        network.run(until: .ms(200))
        let listener = try #require(network.node(1))
        let acceptedID = try #require(listener.acceptedIDs.first)
        #expect(Array(listener.log.suffix(2)) == [
            Timed(time: .ms(60), record: .received(acceptedID, [9, 8, 7])),
            Timed(time: .ms(60), record: .closed(acceptedID, .closedByPeer)),
        ])
        #expect(network.connectionCount == 0)
        #expect(network.counters.finsDelivered == 1)
    }

    @Test("bytes that reach a closed end are discarded and answered with RST")
    func bytesToClosedEndAreReset() throws {
        let (network, id) = connectedPair()
        let acceptedID = try #require(network.node(1)?.acceptedIDs.first)
        // The listener stops reading, so the FIN waits unread behind the pause.
        network.interact(with: 1) { $0.pauseReading(acceptedID, true) }
        network.interact(with: 0) { $0.close(id) }
        network.interact(with: 1) { $0.write([1, 2, 3, 4], on: acceptedID) }
        network.run(until: .ms(200))
        #expect(network.counters.bytesDiscarded == 4)
        #expect(network.node(1)?.log.last == Timed(time: .ms(70), record: .closed(acceptedID, .reset)))
        #expect(network.connectionCount == 0)
    }

    @Test("a crash resets the remote end after one link latency, and later connects are refused")
    func crashResets() throws {
        let (network, id) = connectedPair()
        network.crash(1, at: .ms(100))
        network.run(until: .ms(200))
        #expect(network.node(0)?.log.last == Timed(time: .ms(110), record: .closed(id, .reset)))
        #expect(!network.isUp(1))
        let second = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.run(until: .ms(400))
        #expect(network.node(0)?.records.last == .connectFailed(second, .refused))
        #expect(network.counters.crashes == 1)
    }

    @Test("a paused reader holds bytes back; the writer hears its queue is high, then low after resume")
    func backpressure() throws {
        let (network, id) = connectedPair()
        let acceptedID = try #require(network.node(1)?.acceptedIDs.first)
        network.interact(with: 1) { $0.pauseReading(acceptedID, true) }
        let big = [UInt8](repeating: 0xAB, count: 1_500_000)
        network.interact(with: 0) { $0.write(big, on: id) }
        network.run(until: .ms(500))
        #expect(network.node(1)?.bytesReceived(on: acceptedID).isEmpty == true)
        #expect(network.node(0)?.records.contains(.sendQueue(id, high: true)) == true)
        network.interact(with: 1) { $0.pauseReading(acceptedID, false) }
        network.run(until: .ms(600))
        #expect(network.node(1)?.bytesReceived(on: acceptedID).count == big.count)
        #expect(network.node(0)?.records.last == .sendQueue(id, high: false))
    }

    @Test("writing to a connection after closing it is a violation that stops the run")
    func writeAfterCloseIsViolation() throws {
        let (network, id) = connectedPair()
        network.interact(with: 0) { $0.close(id) }
        network.interact(with: 0) { $0.forceTransmit(id) }
        #expect(network.violationCount == 0, "a late `.transmit` with nothing to write is only counted as stale")
        #expect(network.counters.staleOutputs == 1)
        network.interact(with: 0) { $0.write([1], on: id) }
        #expect(network.violations.first?.message.contains("after it closed") == true)
        #expect(network.violations.first?.host == 0)
        #expect(network.isHalted)
        #expect(!network.run(until: .seconds(1)))
    }

    /// Two started hosts on opposite sides of `partition` (host 1 listens): the first seed that
    /// puts hosts 0 and 1 on different sides.
    private func findSplitNetwork(partition: Partition) -> VirtualNetwork<FakeNode> {
        for seed in UInt64(1)...64 {
            let network = makeFakeNetwork(hosts: 2, seed: seed, partitions: [partition]) { listeningOptions($0) }
            guard network.areSeparated(0, 1, at: partition.start) else { continue }
            network.start(0, at: .zero)
            network.start(1, at: .zero)
            network.run(until: .ms(1))
            return network
        }
        preconditionFailure("no seed in 1...64 splits hosts 0 and 1")
    }
}

@Suite("Virtual network: slot counts")
struct NetworkSlotTests {
    @Test("the network counts live connections per plane and direction and reports more than the node's slots")
    func slotLimits() throws {
        var limited = listeningOptions(1)
        limited.connectionLimits = ConnectionLimits(lookupInbound: 5, lookupOutbound: 5, peerInbound: 1, peerOutbound: 5)
        let network = makeFakeNetwork(hosts: 2, stopsAtFirstViolation: false) { $0 == 1 ? limited : listeningOptions($0) }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        let first = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        #expect(network.openConnectionCount(0, .peer, .outbound) == 1, "a connecting end counts")
        network.run(until: .ms(100))
        #expect(network.openConnectionCount(1, .peer, .inbound) == 1)
        #expect(network.violations.isEmpty)
        network.interact(with: 0) { _ = $0.connect(to: .tcp(testAddress(1), 30_000)) }
        network.run(until: .ms(200))
        #expect(network.violations.map(\.message) == ["2 inbound peer connections open, more than the 1 slots"])
        #expect(network.violations.first?.host == 1)
        network.interact(with: 0) { $0.close(first) }
        network.run(until: .ms(300))
        #expect(network.openConnectionCount(0, .peer, .outbound) == 1)
        #expect(network.openConnectionCount(1, .peer, .inbound) == 1)
        network.crash(1, at: .ms(300))
        network.run(until: .ms(400))
        #expect(network.openConnectionCount(0, .peer, .outbound) == 0, "the crash reset the last one")
        #expect(network.openConnectionCount(1, .peer, .inbound) == 0)
    }
}
