import KaryonsCore
import KaryonsNode

/// One node of a loopback run: its driver, and what its events tell the run (lookup outcomes,
/// listener failures). Loop thread only.
final class LoopbackNode: NodeDriverDelegate {
    let host: LoopbackPlan.Host
    let driver: NodeDriver
    /// Lookups that ended, by outcome.
    private(set) var lookupsSucceeded = 0
    private(set) var lookupsFailed = 0
    /// Failed lookups by reason.
    private(set) var lookupFailureReasons: [String: Int] = [:]
    /// When the node started, on the reactor's clock.
    let started: Instant
    /// Called with every event (tracing).
    private let onEvent: ((Int, NodeEvent) -> Void)?
    /// Called when a listener cannot open, with the reason.
    private let onListenFailure: (String) -> Void

    init(
        host: LoopbackPlan.Host, reactor: Reactor, onEvent: ((Int, NodeEvent) -> Void)?,
        onListenFailure: @escaping (String) -> Void
    ) {
        self.host = host
        self.onEvent = onEvent
        self.onListenFailure = onListenFailure
        started = reactor.now
        let core = NodeCore(id: host.id, configuration: host.configuration, seed: host.seed, now: started)
        driver = NodeDriver(core: core, reactor: reactor, sourceAddress: host.address)
        driver.delegate = self
    }

    func nodeDriver(_ driver: NodeDriver, peerConnected peer: PeerInfo) {}
    func nodeDriver(_ driver: NodeDriver, peerDisconnected peer: PeerID, reason: PeerRemovalReason) {}
    func nodeDriver(_ driver: NodeDriver, received payload: [UInt8], from peer: PeerID, protocolID: ProtocolID) {}
    func nodeDriverDidStop(_ driver: NodeDriver) {}

    func nodeDriver(_ driver: NodeDriver, event: NodeEvent) {
        onEvent?(host.index, event)
        // Only three events matter here; `if case` keeps new event kinds from needing this file.
        if case .lookupSucceeded = event {
            lookupsSucceeded += 1
        } else if case .lookupFailed(_, let reason) = event {
            lookupsFailed += 1
            lookupFailureReasons[reason, default: 0] += 1
        } else if case .listenFailed(let kind, let endpoint, let reason) = event {
            onListenFailure("host \(host.index) cannot open its \(kind) listener on \(endpoint): \(reason)")
        }
    }
}
