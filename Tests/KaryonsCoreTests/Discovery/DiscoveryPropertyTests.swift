import Testing
@testable import KaryonsCore

/// How a scripted remote end of a lookup connection behaves.
enum RemoteBehaviour: CaseIterable {
    /// Refuses the connect.
    case refuse
    /// Never answers the connect at all.
    case blackhole
    /// Connects, then says nothing.
    case silent
    /// Plays its part correctly, after a random delay per message (sometimes too slow).
    case honest
    /// Answers Ping, then says nothing more.
    case stall
    /// Answers Ping with a Pong carrying another nonce.
    case wrongNonce
    /// Sends random bytes.
    case garbage
    /// Resets the connection after a while.
    case closeEarly
    /// Trickles a correct answer one byte every 900 ms.
    case trickle
    /// Sends Shutdown right away.
    case shutdown
    /// Sends Peers before anything was asked.
    case unsolicited
}

/// Drives one `TestNode` against scripted remote ends, in virtual time, checking the node's
/// invariants after every step and recording when each lookup connection began and ended.
struct LookupChaos {
    enum Action {
        case connectFailed(ConnectionID)
        case connected(ConnectionID)
        case deliver(ConnectionID, [UInt8])
        case close(ConnectionID)
        case accept(Endpoint, RemoteBehaviour)
    }

    var node: TestNode
    var rng: SplitMix64
    var pending: [(at: Instant, order: Int, action: Action)] = []
    var order = 0
    var behaviours: [ConnectionID: RemoteBehaviour] = [:]
    var answered: Set<ConnectionID> = []
    var openedAt: [ConnectionID: Instant] = [:]
    var endedAt: [ConnectionID: Instant] = [:]
    var inbound: Set<ConnectionID> = []
    /// Outbound connections the remote may still have to answer on.
    var live: Set<ConnectionID> = []
    var problems: [String] = []
    var maxExchanges = 0
    var maxResponders = 0
    var sessionsStarted = 0
    var sessionsEnded = 0

    init(configuration: NodeConfiguration, seed: UInt64) {
        rng = SplitMix64(seed: seed)
        node = TestNode(configuration: configuration, seed: seed)
        node.startListening()
        absorbOutputs()
    }

    mutating func schedule(_ action: Action, after delay: Duration) {
        let item = (at: node.now + delay, order: order, action: action)
        order += 1
        let index = pending.firstIndex { ($0.at, $0.order) > (item.at, item.order) } ?? pending.count
        pending.insert(item, at: index)
    }

    mutating func randomDelay(upTo milliseconds: UInt64) -> Duration {
        .milliseconds(rng.uniform(below: milliseconds + 1))
    }

    mutating func randomBytes() -> [UInt8] {
        (0..<rng.index(below: 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Runs until `end`, one event or timer at a time.
    mutating func run(until end: Instant) {
        while true {
            let next = pending.first?.at
            let timer = node.core.nextDeadline
            if let next, next <= end, timer.map({ next <= $0 }) ?? true {
                node.advance(to: max(node.now, next))
                perform(pending.removeFirst().action)
            } else if let timer, timer <= end {
                node.advance(to: max(node.now, timer))
            } else {
                break
            }
            absorbOutputs()
        }
        node.advance(to: end)
        absorbOutputs()
    }

    private mutating func perform(_ action: Action) {
        switch action {
        case .connectFailed(let id) where endedAt[id] == nil:
            node.handle(.connectFailed(id, rng.chance(0.5) ? .refused : .timedOut))
            endedAt[id] = node.now
        case .connected(let id) where endedAt[id] == nil:
            node.handle(.connected(id))
        case .deliver(let id, let bytes) where endedAt[id] == nil:
            node.handle(.received(id, bytes))
        case .close(let id) where endedAt[id] == nil:
            node.handle(.closed(id, .reset))
            endedAt[id] = node.now
        case .accept(let remote, let behaviour):
            let id = node.accept(.lookup, from: remote)
            inbound.insert(id)
            openedAt[id] = node.now
            behaviours[id] = behaviour
            playInbound(behaviour, on: id)
        case .connectFailed, .connected, .deliver, .close:
            break  // The node already closed it.
        }
    }

    /// Looks at what the node asked for: new connects get a behaviour, closes end connections,
    /// and remotes react to what was sent to them.
    mutating func absorbOutputs() {
        for output in node.takeOutputs() {
            switch output {
            case .connect(let id, .lookup, _, _):
                openedAt[id] = node.now
                let behaviour = RemoteBehaviour.allCases[rng.index(below: RemoteBehaviour.allCases.count)]
                behaviours[id] = behaviour
                live.insert(id)
                switch behaviour {
                case .refuse: schedule(.connectFailed(id), after: randomDelay(upTo: 2000))
                case .blackhole: break
                default: schedule(.connected(id), after: randomDelay(upTo: 300))
                }
            case .close(let id):
                if endedAt[id] == nil { endedAt[id] = node.now }
                live.remove(id)
            case .event(.lookupStarted):
                sessionsStarted += 1
            case .event(.lookupSucceeded), .event(.lookupFailed):
                sessionsEnded += 1
            default:
                break
            }
        }
        for id in live.sorted() {
            guard endedAt[id] == nil else {
                live.remove(id)
                continue
            }
            let sent = node.sent(on: id)
            if !sent.isEmpty { react(to: sent, on: id) }
        }
        maxExchanges = max(maxExchanges, node.discovery.activeExchanges)
        maxResponders = max(maxResponders, node.discovery.responders.count)
        let found = node.invariantProblems
        if !found.isEmpty { problems.append("\(node.now): \(found)") }
    }

    private mutating func react(to messages: [LookupMessage], on id: ConnectionID) {
        guard let behaviour = behaviours[id] else { return }
        for message in messages {
            guard case .ping(let nonce, _) = message, answered.insert(id).inserted else {
                if case .findPeer = message, behaviour == .honest {
                    send([.peers(randomRecords())], on: id, after: randomDelay(upTo: 1200))
                }
                continue
            }
            switch behaviour {
            case .honest, .stall: send([.pong(nonce: nonce)], on: id, after: randomDelay(upTo: 1200))
            case .wrongNonce: send([.pong(nonce: Nonce(0, 0, 0, 9))], on: id, after: randomDelay(upTo: 500))
            case .garbage: schedule(.deliver(id, randomBytes()), after: randomDelay(upTo: 500))
            case .closeEarly: schedule(.close(id), after: randomDelay(upTo: 1500))
            case .trickle: trickle([.pong(nonce: nonce)], on: id)
            case .shutdown: send([.shutdown(.noFreeSlot)], on: id, after: randomDelay(upTo: 200))
            case .unsolicited: send([.peers(randomRecords())], on: id, after: randomDelay(upTo: 200))
            case .refuse, .blackhole, .silent: break
            }
        }
    }

    /// An inbound requester misbehaving (or not) in its own way.
    private mutating func playInbound(_ behaviour: RemoteBehaviour, on id: ConnectionID) {
        let hello: [LookupMessage] = [
            .ping(nonce: Nonce(1, 2, 3, 4), version: Version(0, 1, 0)), .findPeer(target: Fixture.peerID(1)),
        ]
        switch behaviour {
        case .honest:
            let introduction = LookupMessage.peer(Fixture.record(Int(rng.uniform(below: 50))))
            send(hello + [introduction, .shutdown(.none)], on: id, after: randomDelay(upTo: 2000))
        case .silent, .blackhole, .refuse: break
        case .wrongNonce, .stall: send(hello, on: id, after: randomDelay(upTo: 500))  // Never shuts down.
        case .garbage: schedule(.deliver(id, randomBytes()), after: randomDelay(upTo: 500))
        case .closeEarly: schedule(.close(id), after: randomDelay(upTo: 2500))
        case .trickle: trickle(hello, on: id)
        case .shutdown: send([.shutdown(.none)], on: id, after: randomDelay(upTo: 100))
        case .unsolicited: send([.peers(randomRecords())], on: id, after: randomDelay(upTo: 100))
        }
    }

    private mutating func send(_ messages: [LookupMessage], on id: ConnectionID, after delay: Duration) {
        var writer = ByteWriter()
        for message in messages { message.encodeFrame(into: &writer) }
        schedule(.deliver(id, writer.bytes), after: delay)
    }

    private mutating func trickle(_ messages: [LookupMessage], on id: ConnectionID) {
        var writer = ByteWriter()
        for message in messages { message.encodeFrame(into: &writer) }
        for (index, byte) in writer.bytes.prefix(8).enumerated() {
            schedule(.deliver(id, [byte]), after: .milliseconds(900 * UInt64(index + 1)))
        }
    }

    private mutating func randomRecords() -> [PeerRecord] {
        (0..<rng.index(below: 11)).map { _ in Fixture.record(1 + rng.index(below: 200)) }
    }

    /// Connections opened before `cutoff` that lived longer than `bound` (or never ended).
    func overdue(bound: Duration, cutoff: Instant) -> [ConnectionID] {
        openedAt.keys.sorted().filter { id in
            let opened = openedAt[id]!
            guard opened <= cutoff else { return false }
            guard let ended = endedAt[id] else { return true }
            return ended.duration(since: opened) > bound
        }
    }
}

/// Properties over many seeds: lookups always end and free their slots; slot counts never exceed
/// their limits; no state outlives its connection.
@Suite struct DiscoveryPropertyTests {
    /// Every outbound lookup connection ends within connect guard + two responses, whatever the
    /// remote does; exchanges never exceed the outbound lookup slots; sessions end.
    @Test(arguments: 0..<24)
    func outboundLookupsAlwaysEndAndFreeTheirSlots(seed: Int) {
        var setup = SplitMix64(seed: UInt64(seed) &* 0x9E37)
        let slots = 2 + setup.index(below: 19)
        let configuration = Fixture.listeningConfiguration {
            $0.slots.lookupOutbound = slots
            $0.bootstrapPeers = (1...3).map { .tcp(Fixture.publicAddress(300 + $0), 4010) }
        }
        var chaos = LookupChaos(configuration: configuration, seed: UInt64(seed))
        chaos.run(until: sec(100))
        #expect(chaos.problems == [])
        #expect(chaos.maxExchanges <= slots)
        // Connect guard (2 s + 1 s), then Pong and Peers within 1 s each.
        #expect(chaos.overdue(bound: .seconds(5), cutoff: sec(95)) == [])
        #expect(chaos.openedAt.count > 10 && chaos.sessionsStarted > 1)
        #expect(chaos.sessionsStarted - chaos.sessionsEnded <= 3)  // Only the last pass may be running.
    }

    /// Inbound lookup connections, more than there are slots, behaving every way: each is closed
    /// within the lifespan (refused ones at once), and responders never exceed their slots.
    @Test(arguments: 0..<24)
    func inboundLookupsEndWithinTheirLifespan(seed: Int) {
        let configuration = Fixture.listeningConfiguration { $0.bootstrapPeers = [] }
        var chaos = LookupChaos(configuration: configuration, seed: UInt64(seed))
        for n in 0..<60 {
            let behaviour = RemoteBehaviour.allCases[chaos.rng.index(below: RemoteBehaviour.allCases.count)]
            let remote = Endpoint.tcp(Fixture.publicAddress(n % 7), UInt16(40000 + n))
            chaos.schedule(.accept(remote, behaviour), after: .milliseconds(chaos.rng.uniform(below: 4000)))
        }
        chaos.run(until: sec(30))
        #expect(chaos.problems == [])
        #expect(chaos.maxResponders <= 20)
        #expect(chaos.inbound.count == 60)
        #expect(chaos.overdue(bound: .seconds(3), cutoff: sec(30)).filter { chaos.inbound.contains($0) } == [])
        #expect(chaos.node.discovery.responders.isEmpty && chaos.node.core.connectionCount(.lookup) == 0)
    }
}
