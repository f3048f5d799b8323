import KaryonsCore
import KaryonsSimulation
import Testing

/// UDP semantics and listeners of the virtual network, driven with fake nodes.
@Suite("Virtual network: UDP and listeners")
struct NetworkUDPTests {
    private func started(_ count: Int = 2, seed: UInt64 = 1, link: LinkConditions = LinkConditions(
        latency: .milliseconds(10)...Duration.milliseconds(10), jitter: .zero), partitions: [Partition] = [])
        -> VirtualNetwork<FakeNode>
    {
        let network = makeFakeNetwork(hosts: count, seed: seed, link: link, partitions: partitions) { listeningOptions($0) }
        for host in 0..<count { network.start(host, at: .zero) }
        network.run(until: .ms(1))
        return network
    }

    private func pings(_ count: Int) -> [RefreshDatagram] { (0..<count).map { .ping(Nonce(UInt64($0), 0, 0, 0)) } }

    private func datagrams(at host: Int, in network: VirtualNetwork<FakeNode>) -> [Timed] {
        network.node(host)?.log.filter { if case .datagram = $0.record { return true } else { return false } } ?? []
    }

    @Test("a datagram arrives after the link latency from the sender's refresh socket, and a ping is answered")
    func pingPong() {
        let network = started()
        network.interact(with: 0) { $0.send(.ping(Nonce(7, 0, 0, 0)), to: .udp(testAddress(1), 30_010)) }
        network.run(until: .ms(100))
        #expect(datagrams(at: 1, in: network) == [
            Timed(time: .ms(11), record: .datagram(from: .udp(testAddress(0), 30_010), .ping(Nonce(7, 0, 0, 0)))),
        ])
        #expect(datagrams(at: 0, in: network) == [
            Timed(time: .ms(21), record: .datagram(from: .udp(testAddress(1), 30_010), .pong(Nonce(7, 0, 0, 0)))),
        ])
        #expect(network.counters.datagramsDelivered == 2)
    }

    @Test("a node without a UDP listener sends from an ephemeral port, and the answer finds it")
    func ephemeralSource() {
        let network = makeFakeNetwork(hosts: 2) { $0 == 1 ? listeningOptions($0) : FakeNode.Options() }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        network.interact(with: 0) { $0.send(.ping(Nonce(1, 2, 3, 4)), to: .udp(testAddress(1), 30_010)) }
        network.run(until: .ms(100))
        #expect(datagrams(at: 1, in: network).first?.record == .datagram(from: .udp(testAddress(0), 32_768), .ping(Nonce(1, 2, 3, 4))))
        #expect(datagrams(at: 0, in: network).first?.record == .datagram(from: .udp(testAddress(1), 30_010), .pong(Nonce(1, 2, 3, 4))))
    }

    @Test("with loss 1 nothing arrives; with loss 0.25 about a quarter is lost", arguments: [UInt64(1), 2, 3])
    func loss(seed: UInt64) {
        let total = 2_000
        for (loss, range) in [(1.0, total...total), (0.25, 400...600)] {
            let link = LinkConditions(latency: .milliseconds(10)...Duration.milliseconds(10), jitter: .zero, loss: loss)
            let network = started(seed: seed, link: link)
            let targets = Endpoint.udp(testAddress(1), 30_999)  // nobody answers: only one direction counts
            network.interact(with: 0) { node in for datagram in pings(total) { node.send(datagram, to: targets) } }
            network.run(until: .seconds(1))
            #expect(range.contains(network.counters.datagramsLost), "loss \(loss): lost \(network.counters.datagramsLost)")
            #expect(network.counters.datagramsLost + network.counters.datagramsUnroutable == total)
        }
    }

    @Test("with duplication 1 every datagram arrives twice")
    func duplication() {
        let link = LinkConditions(latency: .milliseconds(10)...Duration.milliseconds(10), jitter: .milliseconds(2), duplication: 1)
        let network = started(link: link)
        let sent = pings(50)
        network.interact(with: 0) { node in for datagram in sent { node.send(datagram, to: .udp(testAddress(1), 30_010)) } }
        network.run(until: .seconds(1))
        let received = datagrams(at: 1, in: network).compactMap { entry -> Nonce? in
            if case .datagram(_, let datagram) = entry.record { return datagram.nonce }
            return nil
        }
        #expect(received.count == 100)
        for datagram in sent { #expect(received.filter { $0 == datagram.nonce }.count == 2) }
    }

    @Test("reordering lets later datagrams overtake earlier ones; none is lost")
    func reordering() {
        let link = LinkConditions(
            latency: .milliseconds(10)...Duration.milliseconds(10), jitter: .zero, reordering: 0.3, reorderingDelay: .milliseconds(50))
        let network = started(link: link)
        let sent = pings(100)
        for (index, datagram) in sent.enumerated() {
            network.run(until: .ms(10 + UInt64(index)))
            network.interact(with: 0) { $0.send(datagram, to: .udp(testAddress(1), 30_010)) }
        }
        network.run(until: .seconds(2))
        let order = datagrams(at: 1, in: network).compactMap { entry -> Int? in
            guard case .datagram(_, let datagram) = entry.record else { return nil }
            return sent.firstIndex(of: datagram)
        }
        #expect(order.count == 100)
        #expect(Set(order).count == 100)
        #expect(order != order.sorted(), "some datagram should have been overtaken")
        #expect(network.counters.datagramsReordered > 10)
    }

    @Test("a partition drops datagrams across it; after it heals they flow again")
    func partitionDropsDatagrams() {
        let partition = Partition(fraction: 0.5, start: .zero, end: .seconds(5))
        var checked = 0
        for seed in UInt64(1)...40 {
            let network = started(8, seed: seed, partitions: [partition])
            for target in 1..<8 {
                network.interact(with: 0) { $0.send(.ping(Nonce(1, 0, 0, 0)), to: .udp(testAddress(target), 30_010)) }
            }
            network.run(until: .seconds(1))
            for target in 1..<8 {
                let separated = network.areSeparated(0, target, at: .ms(1))
                let arrived = !datagrams(at: target, in: network).isEmpty
                #expect(arrived == !separated, "seed \(seed) host \(target)")
                if separated { checked += 1 }
            }
            network.run(until: .seconds(6))
            network.interact(with: 0) { $0.send(.ping(Nonce(2, 0, 0, 0)), to: .udp(testAddress(7), 30_010)) }
            network.run(until: .seconds(7))
            #expect(datagrams(at: 7, in: network).contains { $0.record == .datagram(from: .udp(testAddress(0), 30_010), .ping(Nonce(2, 0, 0, 0))) })
        }
        #expect(checked > 0, "some seed must put a host on the other side")
    }

    @Test("port 0 resolves to an ephemeral port; the wildcard address stays as asked and accepts on the host's address")
    func listenResolution() throws {
        var options = FakeNode.Options()
        options.listens = [(.peer, .tcp(.anyV4, 0)), (.lookup, .tcp(.anyV4, 30_010)), (.refresh, .udp(testAddress(1), 0))]
        let network = makeFakeNetwork(hosts: 2) { $0 == 1 ? options : FakeNode.Options() }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        let listener = try #require(network.node(1))
        #expect(listener.records.contains(.listening(.peer, .tcp(.anyV4, 32_768))))
        #expect(listener.records.contains(.listening(.lookup, .tcp(.anyV4, 30_010))))
        // One ephemeral counter per host, shared by TCP and UDP.
        #expect(listener.records.contains(.listening(.refresh, .udp(testAddress(1), 32_769))))
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_010)) }!
        network.run(until: .ms(100))
        #expect(network.node(0)?.records.contains(.connected(id)) == true)
        #expect(network.node(1)?.records.contains(.accepted(ConnectionID(slot: 0, generation: 0), .lookup, from: .tcp(testAddress(0), 32_768))) == true)
    }

    @Test("listening twice on a port, on a foreign address, over IPv6 or on the wrong transport fails with a reason")
    func listenFailures() throws {
        var options = FakeNode.Options()
        options.listens = [
            (.peer, .tcp(testAddress(0), 30_000)), (.lookup, .tcp(testAddress(0), 30_000)),
            (.lookup, .tcp(testAddress(5), 30_010)), (.lookup, .tcp(.loopbackV6, 30_010)), (.refresh, .tcp(testAddress(0), 30_010)),
        ]
        let network = makeFakeNetwork(hosts: 1) { _ in options }
        network.start(0, at: .zero)
        network.run(until: .ms(1))
        let records = try #require(network.node(0)?.records)
        #expect(Array(records.dropFirst()) == [
            .listening(.peer, .tcp(testAddress(0), 30_000)),
            .listenFailed(.lookup, "EADDRINUSE"),
            .listenFailed(.lookup, "EADDRNOTAVAIL"),
            .listenFailed(.lookup, "EAFNOSUPPORT (simulated hosts are IPv4)"),
            .listenFailed(.refresh, "a refresh listener needs a udp endpoint"),
        ])
    }
}
