#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import KaryonsNode
import PingPong

/// Custom-protocol round trips between two nodes on one reactor, through the three public layers:
/// the async façade (`PeerProtocol`, `Peer.send` / `peer.messages`), the façade's reactor-callback
/// protocols (`Node.attachHandler`, `PeerHandle.send`) and the driver itself (`NodeDriver` with a
/// `NodeDriverDelegate`, `submit(.send)`).
///
/// Both nodes share one reactor thread, so a round trip is the engine's whole cost of one message
/// each way (frame encoding, a `write` and a `read` per message over loopback TCP, frame decoding,
/// dispatch) without cross-CPU wake-ups. The dialler sends a 64-byte payload, the listener echoes
/// it, the dialler checks the echo byte for byte and sends the next one (one message in flight).
/// Setup (nodes, listeners, handshake) and teardown are outside the timed loop.
enum NodeRoundTrips {
    static let payloadSize = 64

    /// The payload of round trip `round`: its first byte varies so a stale echo would not match.
    static func payload(round: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x5A, count: payloadSize)
        bytes[0] = UInt8(truncatingIfNeeded: round)
        return bytes
    }

    /// A run's check value: the round trips done, or what failed.
    static func check(_ outcome: String??, roundTrips: Int) -> String {
        switch outcome {
        case .none: return "FAILURES=no answer within the time limit"
        case .some(.some(let failure)): return "FAILURES=\(failure)"
        case .some(.none): return "\(roundTrips) echoes equal"
        }
    }

    // MARK: Async façade

    /// Round trips through `Peer.send` and `peer.messages`, driven by a task on the reactor.
    static func asyncFacade(roundTrips: Int) -> EngineCase {
        EngineCase(group: "node", name: "protocol-async",
                   label: "custom protocol, async façade (Peer.send / messages), 2 nodes on 1 reactor",
                   operations: roundTrips, failableRun: { stopwatch throws(NodeBenchmarkError) in
            try runAsyncFacade(roundTrips: roundTrips, stopwatch: &stopwatch)
        })
    }

    private static func runAsyncFacade(roundTrips: Int, stopwatch: inout Stopwatch) throws(NodeBenchmarkError) -> String {
        let reactor = try NodeRig.startReactor()
        let dialledPeer = HandOver<Peer>()
        AsyncEchoProtocol.handOvers.set(dialledPeer)
        let nodes = NodeRig.runTask(on: reactor) { () async -> Result<[Node], NodeBenchmarkError> in
            do {
                let listener = try Node(configuration: NodeRig.listeningConfiguration(), reactor: reactor, seed: 1,
                                        logger: NodeRig.quietLogger)
                try await listener.attach(AsyncEchoProtocol.self)
                try await listener.start()
                guard let endpoint = await listener.listeningEndpoint(.peer) else { return .failure(.init("no listener")) }
                let dialler = try Node(configuration: NodeRig.lightConfiguration(dialPeers: [endpoint]), reactor: reactor,
                                       seed: 2, logger: NodeRig.quietLogger)
                try await dialler.attach(AsyncEchoProtocol.self)
                try await dialler.start()
                return .success([listener, dialler])
            } catch {
                return .failure(.init("\(error)"))
            }
        }
        guard case .success(let started) = nodes else {
            NodeRig.stop(reactor)
            if case .failure(let error) = nodes { throw error }
            throw NodeBenchmarkError("the nodes did not start")
        }
        defer { NodeRig.shutDown(started, reactor: reactor) }
        guard let peer = dialledPeer.take() else { throw NodeBenchmarkError("the handshake did not complete") }
        let outcome = stopwatch.measure {
            NodeRig.runTask(on: reactor) { () async -> String? in
                var replies = peer.messages.makeAsyncIterator()
                var payload = payload(round: 0)
                for round in 0..<roundTrips {
                    payload[0] = UInt8(truncatingIfNeeded: round)
                    do {
                        try await peer.send(payload)
                    } catch {
                        return "send: \(error)"
                    }
                    guard let reply = await replies.next() else { return "the peer left" }
                    guard reply == payload else { return "an echo differs" }
                }
                return nil
            }
        }
        return check(outcome, roundTrips: roundTrips)
    }

    // MARK: Reactor callbacks through the façade

    /// Round trips through `Node.attachHandler` handlers (`PeerHandle.send`, `received(_:from:)`).
    static func handlerCallbacks(roundTrips: Int) -> EngineCase {
        EngineCase(group: "node", name: "protocol-handler",
                   label: "custom protocol, reactor callbacks (Node.attachHandler), 2 nodes on 1 reactor",
                   operations: roundTrips, failableRun: { stopwatch throws(NodeBenchmarkError) in
            try runHandlerCallbacks(roundTrips: roundTrips, stopwatch: &stopwatch)
        })
    }

    private static func runHandlerCallbacks(roundTrips: Int, stopwatch: inout Stopwatch) throws(NodeBenchmarkError) -> String {
        let reactor = try NodeRig.startReactor()
        let pinger = HandOver<LoopConfined<PingingHandler>>()
        let nodes = NodeRig.runTask(on: reactor) { () async -> Result<[Node], NodeBenchmarkError> in
            do {
                let listener = try Node(configuration: NodeRig.listeningConfiguration(), reactor: reactor, seed: 1,
                                        logger: NodeRig.quietLogger)
                try await listener.attachHandler(id: NodeRig.echoProtocolID, version: "0.1.0") { _ in EchoingHandler() }
                try await listener.start()
                guard let endpoint = await listener.listeningEndpoint(.peer) else { return .failure(.init("no listener")) }
                let dialler = try Node(configuration: NodeRig.lightConfiguration(dialPeers: [endpoint]), reactor: reactor,
                                       seed: 2, logger: NodeRig.quietLogger)
                try await dialler.attachHandler(id: NodeRig.echoProtocolID, version: "0.1.0") { handle in
                    let handler = PingingHandler { handle.send($0) }
                    pinger.put(LoopConfined(object: handler))
                    return handler
                }
                try await dialler.start()
                return .success([listener, dialler])
            } catch {
                return .failure(.init("\(error)"))
            }
        }
        guard case .success(let started) = nodes else {
            NodeRig.stop(reactor)
            if case .failure(let error) = nodes { throw error }
            throw NodeBenchmarkError("the nodes did not start")
        }
        defer { NodeRig.shutDown(started, reactor: reactor) }
        guard let handler = pinger.take() else { throw NodeBenchmarkError("the handshake did not complete") }
        let outcome = stopwatch.measure { handler.object.run(roundTrips: roundTrips, on: reactor) }
        return check(outcome, roundTrips: roundTrips)
    }

    // MARK: Reactor callbacks on the driver

    /// Round trips on two `NodeDriver`s with `NodeDriverDelegate`s (`submit(.send)`), no façade.
    static func driverCallbacks(roundTrips: Int) -> EngineCase {
        EngineCase(group: "node", name: "protocol-driver",
                   label: "custom protocol, reactor callbacks (NodeDriver + delegate), 2 nodes on 1 reactor",
                   operations: roundTrips, failableRun: { stopwatch throws(NodeBenchmarkError) in
            try runDriverCallbacks(roundTrips: roundTrips, stopwatch: &stopwatch)
        })
    }

    private static func runDriverCallbacks(roundTrips: Int, stopwatch: inout Stopwatch) throws(NodeBenchmarkError) -> String {
        let reactor = try NodeRig.startReactor()
        let pinger = HandOver<LoopConfined<PingingHandler>>()
        let pair = NodeRig.onLoop(reactor) { () -> LoopConfined<DriverPair>? in
            DriverPair(reactor: reactor, connected: pinger).map { LoopConfined(object: $0) }
        }
        guard let pair = pair ?? nil else {
            NodeRig.stop(reactor)
            throw NodeBenchmarkError("the listener did not open")
        }
        defer {
            _ = NodeRig.onLoop(reactor) { pair.object.shutdown() }
            NodeRig.stop(reactor)
        }
        guard let handler = pinger.take() else { throw NodeBenchmarkError("the handshake did not complete") }
        let outcome = stopwatch.measure { handler.object.run(roundTrips: roundTrips, on: reactor) }
        return check(outcome, roundTrips: roundTrips)
    }
}

/// The async façade's echo protocol: the listener's instance echoes every message; the dialler's
/// hands its `Peer` to the benchmark, which drives the round trips from a task of its own.
struct AsyncEchoProtocol: PeerProtocol {
    static let id = NodeRig.echoProtocolID
    static let version = "0.1.0"
    /// Where the dialler's instance puts its `Peer` (set by each run before its nodes start).
    static let handOvers = Latest<HandOver<Peer>>()

    let peer: Peer

    init(peer: Peer) { self.peer = peer }

    func run() async throws {
        switch peer.direction {
        case .outbound:
            Self.handOvers.get()?.put(peer)
        case .inbound:
            for await message in peer.messages { try await peer.send(message) }
        }
    }
}

/// Echoes every message on the reactor thread.
final class EchoingHandler: PeerMessageHandler {
    func received(_ payload: [UInt8], from peer: PeerHandle) { peer.send(payload) }
    func peerDisconnected(_ peer: PeerHandle, reason: PeerRemovalReason) {}
}

/// The dialler's side of a callback benchmark: sends a payload, checks its echo, sends the next,
/// until the asked number of round trips is done. Loop thread only.
final class PingingHandler: PeerMessageHandler {
    private let send: ([UInt8]) -> Void
    private var payload = NodeRoundTrips.payload(round: 0)
    private var remaining = 0
    private var done: Rendezvous<String?>?

    init(send: @escaping ([UInt8]) -> Void) { self.send = send }

    /// Runs `roundTrips` round trips from a job on `reactor`; waits for them on this thread.
    func run(roundTrips: Int, on reactor: Reactor) -> String?? {
        let done = Rendezvous<String?>()
        let handler = LoopConfined(object: self)
        _ = reactor.execute { handler.object.start(roundTrips: roundTrips, done: done) }
        return done.wait(seconds: 120)
    }

    private func start(roundTrips: Int, done: Rendezvous<String?>) {
        remaining = roundTrips
        self.done = done
        send(payload)
    }

    func received(_ reply: [UInt8], from peer: PeerHandle) { received(reply) }

    func received(_ reply: [UInt8]) {
        guard let done else { return }
        guard reply == payload else {
            self.done = nil
            return done.complete("an echo differs")
        }
        remaining -= 1
        if remaining == 0 {
            self.done = nil
            return done.complete(nil)
        }
        payload[0] &+= 1
        send(payload)
    }

    func peerDisconnected(_ peer: PeerHandle, reason: PeerRemovalReason) {
        done?.complete("the peer left: \(reason)")
        done = nil
    }
}

/// Two `NodeDriver`s on one reactor, connected, running the echo protocol with delegates.
final class DriverPair {
    private let listener: NodeDriver
    private let dialler: NodeDriver
    private let listenerSide: DriverSide
    private let diallerSide: DriverSide

    /// Starts both drivers on the loop thread; nil if the listener could not open.
    init?(reactor: Reactor, connected: HandOver<LoopConfined<PingingHandler>>) {
        let spec = NodeConfiguration.ProtocolSpec(id: NodeRig.echoProtocolID, version: ProtocolVersion(Version(0, 1, 0)))
        var listening = NodeRig.listeningConfiguration()
        listening.protocols = [spec]
        listener = NodeDriver(core: NodeCore(id: PeerID(1, 0, 0, 1), configuration: listening, seed: 1,
                                             now: reactor.now), reactor: reactor)
        listenerSide = DriverSide(echoes: true, connected: connected)
        listener.delegate = listenerSide
        listener.start()
        guard let endpoint = listener.listeningEndpoint(.peer) else { return nil }
        var dialling = NodeRig.lightConfiguration(dialPeers: [endpoint])
        dialling.protocols = [spec]
        dialler = NodeDriver(core: NodeCore(id: PeerID(2, 0, 0, 2), configuration: dialling, seed: 2,
                                            now: reactor.now), reactor: reactor)
        diallerSide = DriverSide(echoes: false, connected: connected)
        dialler.delegate = diallerSide
        dialler.start()
    }

    func shutdown() {
        dialler.submit(.shutdown)
        listener.submit(.shutdown)
    }
}

/// One driver's delegate: echoes (the listener), or drives the round trips (the dialler).
final class DriverSide: NodeDriverDelegate {
    private let echoes: Bool
    private let connected: HandOver<LoopConfined<PingingHandler>>
    private var pinger: PingingHandler?

    init(echoes: Bool, connected: HandOver<LoopConfined<PingingHandler>>) {
        self.echoes = echoes
        self.connected = connected
    }

    func nodeDriver(_ driver: NodeDriver, peerConnected peer: PeerInfo) {
        guard !echoes, pinger == nil else { return }
        let id = peer.id
        let handler = PingingHandler { [unowned driver] payload in
            driver.submit(.send(to: id, protocolID: NodeRig.echoProtocolID, payload: payload))
        }
        pinger = handler
        connected.put(LoopConfined(object: handler))
    }

    func nodeDriver(_ driver: NodeDriver, peerDisconnected peer: PeerID, reason: PeerRemovalReason) {}

    func nodeDriver(_ driver: NodeDriver, received payload: [UInt8], from peer: PeerID, protocolID: ProtocolID) {
        if echoes {
            driver.submit(.send(to: peer, protocolID: protocolID, payload: payload))
        } else {
            pinger?.received(payload)
        }
    }

    func nodeDriver(_ driver: NodeDriver, event: NodeEvent) {}

    func nodeDriverDidStop(_ driver: NodeDriver) {}
}

/// A thread-safe cell holding the latest value set.
final class Latest<Value: AnyObject>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value?

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func set(_ newValue: Value) {
        pthread_mutex_lock(mutex)
        value = newValue
        pthread_mutex_unlock(mutex)
    }

    func get() -> Value? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return value
    }
}
