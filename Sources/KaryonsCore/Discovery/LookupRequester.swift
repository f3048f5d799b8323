/// Why an outbound lookup exchange failed.
public enum LookupFailure: Hashable, Sendable, CustomStringConvertible {
    /// Every connect attempt failed; the last failure is given.
    case connectFailed(ConnectFailure)
    /// No response of the awaited kind came within the response timeout.
    case timedOut(awaiting: MessageKind)
    /// The Pong did not echo our Ping's nonce.
    case nonceMismatch
    /// The remote sent a message that does not belong at this point of the exchange.
    case unexpected(MessageKind)
    /// The remote ended the exchange early with Shutdown.
    case remoteShutdown(DisconnectReason)
    /// The remote sent a frame we could not decode.
    case malformed(WireError)
    /// The connection closed or failed before the exchange completed.
    case connectionLost(CloseCause)
    /// The Peers reply held more records than `peersPerReplyMax`.
    case tooManyPeers(Int)
    /// This node is shutting down.
    case shuttingDown

    public var description: String {
        switch self {
        case .connectFailed(let failure): return "connect failed: \(failure)"
        case .timedOut(let kind): return "timed out awaiting \(kind)"
        case .nonceMismatch: return "pong nonce mismatch"
        case .unexpected(let kind): return "unexpected \(kind)"
        case .remoteShutdown(let reason): return "remote shut down (\(reason))"
        case .malformed(let error): return "malformed frame: \(error)"
        case .connectionLost(let cause): return "connection lost: \(cause)"
        case .tooManyPeers(let count): return "\(count) peers in one reply"
        case .shuttingDown: return "shutting down"
        }
    }
}

/// What the owner of a `LookupRequester` must do next.
enum RequesterAction: Hashable {
    /// Open a lookup connection to the endpoint (closing the exchange's previous one, if any).
    case connect(Endpoint, timeout: Duration)
    /// Send the message on the exchange's connection; the next response is awaited.
    case send(LookupMessage)
    /// Nothing now: a reconnect or a response is awaited until `deadline`.
    case wait
    /// The exchange succeeded with these (filtered) peers: send Peer (our own record) if we listen,
    /// then close the connection with Shutdown(none).
    case succeed(peers: [PeerRecord])
    /// The exchange failed: close the connection if it is still open, sending Shutdown(`closeWith`)
    /// when given (nil when the remote already shut down or the connection is gone).
    case fail(LookupFailure, closeWith: DisconnectReason?)
}

/// One outbound lookup exchange on one lookup connection (the requester side of the lookup plane).
///
/// Trace: connect (with `connectRetries` attempts and backoff between them) → send Ping(nonce, our
/// version) → receive Pong with the same nonce → send FindPeer(target) → receive Peers → succeed.
/// Each response has `responseTimeout`, counted from the moment we sent the request, whatever
/// trickles in meanwhile; a connect that the driver does not answer is abandoned after
/// `connectTimeout + responseTimeout` and counts as a failed attempt. Anything else — a message
/// out of order, a wrong nonce, more than `peersPerReplyMax` records, a Shutdown — ends the
/// exchange, except a Shutdown(noFreeSlot) in answer to Ping (a busy responder refusing at once),
/// which is retried like a failed connect while attempts remain. The records of the reply are filtered with `RelayFilter` before they are handed out;
/// the owner then sends Peer (our own record, when we listen) and Shutdown(none), and closes.
///
/// A plain value with one method per event; every call returns the next action, and `deadline`
/// says when `timeout(now:)` is due. Calls after the exchange finished return `.wait` and change
/// nothing, so late events are harmless.
struct LookupRequester {
    /// Timing and limits, from `NodeConfiguration.Discovery` and `.Peers`.
    struct Settings: Hashable {
        var version: Version
        var responseTimeout: Duration
        var connectTimeout: Duration
        var connectAttempts: Int
        var reconnectBackoffBase: Duration
        var reconnectBackoffMax: Duration
        var peersPerReplyMax: Int

        init(_ configuration: NodeConfiguration) {
            version = configuration.networkVersion.version
            responseTimeout = configuration.discovery.lookupResponseTimeout
            connectTimeout = configuration.discovery.lookupConnectTimeout
            connectAttempts = max(1, configuration.discovery.lookupConnectRetries)
            reconnectBackoffBase = configuration.peers.connectBackoffBase
            reconnectBackoffMax = max(configuration.peers.connectBackoffBase, configuration.peers.connectBackoffMax)
            peersPerReplyMax = configuration.discovery.peersPerReplyMax
        }
    }

    /// Where the exchange stands.
    enum State: Hashable {
        /// Created, waiting for a lookup slot.
        case idle
        /// A connect is in flight (attempt 1...connectAttempts).
        case connecting(attempt: Int)
        /// The last connect failed; the next attempt starts at `deadline`.
        case waitingToReconnect(nextAttempt: Int)
        /// Ping sent; awaiting Pong.
        case awaitingPong
        /// FindPeer sent; awaiting Peers.
        case awaitingPeers
        /// Succeeded or failed; nothing more happens.
        case finished
    }

    let settings: Settings
    /// The ID whose neighbourhood we ask for.
    let target: PeerID
    /// The responder's lookup endpoint.
    let remote: Endpoint
    /// The responder's ID when it is a routing-table entry (nil for a bootstrap endpoint).
    let responderID: PeerID?
    /// The nonce of our Ping.
    let nonce: Nonce
    private let filter: RelayFilter
    private var reconnectBackoff: Backoff
    private(set) var state = State.idle
    /// The connect attempt the exchange is on (0 before the first).
    private(set) var attempt = 0
    /// Jitter for the backoff after a refusal (`received` has no generator of the owner's; seeded
    /// from the nonce, so runs stay deterministic).
    private var refusalJitter: SplitMix64
    /// When `timeout(now:)` must be called next; nil while nothing is awaited.
    private(set) var deadline: Instant?

    init(settings: Settings, localID: PeerID, target: PeerID, remote: Endpoint, responderID: PeerID?, nonce: Nonce) {
        self.settings = settings
        self.target = target
        self.remote = remote
        self.responderID = responderID
        self.nonce = nonce
        filter = RelayFilter(localID: localID, responderID: responderID, responder: remote)
        reconnectBackoff = Backoff(base: settings.reconnectBackoffBase, max: settings.reconnectBackoffMax)
        refusalJitter = SplitMix64(seed: nonce.w0 ^ nonce.w3)
    }

    /// True once the exchange succeeded or failed.
    var isFinished: Bool { state == .finished }

    /// True when a further connect attempt would follow a failure of the current one.
    var willRetryConnect: Bool {
        if case .connecting(let attempt) = state { return attempt < settings.connectAttempts }
        return false
    }

    /// A lookup slot was granted: open the first connection.
    mutating func start(now: Instant) -> RequesterAction {
        guard state == .idle else { return .wait }
        return connect(attempt: 1, now: now)
    }

    /// The connection is established: send Ping.
    mutating func connected(now: Instant) -> RequesterAction {
        guard case .connecting = state else { return .wait }
        state = .awaitingPong
        deadline = now + settings.responseTimeout
        return .send(.ping(nonce: nonce, version: settings.version))
    }

    /// The connect failed: try again after a backoff, or give up after the last attempt.
    mutating func connectFailed(_ failure: ConnectFailure, now: Instant, rng: inout SplitMix64) -> RequesterAction {
        guard case .connecting(let attempt) = state else { return .wait }
        guard attempt < settings.connectAttempts else { return finish(.connectFailed(failure), closeWith: nil) }
        state = .waitingToReconnect(nextAttempt: attempt + 1)
        deadline = now + reconnectBackoff.nextDelay(using: &rng)
        return .wait
    }

    /// A message arrived on the exchange's connection.
    mutating func received(_ message: LookupMessage, now: Instant) -> RequesterAction {
        switch (state, message) {
        case (.awaitingPong, .pong(let echoed)):
            guard echoed == nonce else { return finish(.nonceMismatch, closeWith: .malformedMessage) }
            state = .awaitingPeers
            deadline = now + settings.responseTimeout
            return .send(.findPeer(target: target))
        case (.awaitingPeers, .peers(let records)):
            guard records.count <= settings.peersPerReplyMax else {
                return finish(.tooManyPeers(records.count), closeWith: .malformedMessage)
            }
            state = .finished
            deadline = nil
            return .succeed(peers: filter.filter(records))
        case (.awaitingPong, .shutdown(.noFreeSlot)) where attempt < settings.connectAttempts:
            // Refused at once for lack of a slot (a busy seed): like a failed connect, try again
            // after a backoff rather than fail the lookup.
            state = .waitingToReconnect(nextAttempt: attempt + 1)
            deadline = now + reconnectBackoff.nextDelay(using: &refusalJitter)
            return .wait
        case (.awaitingPong, .shutdown(let reason)), (.awaitingPeers, .shutdown(let reason)):
            return finish(.remoteShutdown(reason), closeWith: nil)
        case (.awaitingPong, _), (.awaitingPeers, _):
            return finish(.unexpected(message.kind), closeWith: .malformedMessage)
        case (.idle, _), (.connecting, _), (.waitingToReconnect, _), (.finished, _):
            return .wait  // No connection is open in these states: a stale delivery.
        }
    }

    /// `deadline` passed: reconnect, or fail the exchange for lack of an answer. A connect the
    /// driver never answered counts as a connect that timed out (and is retried like one).
    mutating func timeout(now: Instant, rng: inout SplitMix64) -> RequesterAction {
        guard let deadline, deadline <= now else { return .wait }
        switch state {
        case .waitingToReconnect(let attempt): return connect(attempt: attempt, now: now)
        case .connecting: return connectFailed(.timedOut, now: now, rng: &rng)
        case .awaitingPong: return finish(.timedOut(awaiting: .pong), closeWith: .timeout)
        case .awaitingPeers: return finish(.timedOut(awaiting: .peers), closeWith: .timeout)
        case .idle, .finished: return .wait
        }
    }

    /// The exchange ends for a reason outside the protocol (connection lost, malformed frame,
    /// shutdown); `closeWith` as in `RequesterAction.fail`.
    mutating func abort(_ failure: LookupFailure, closeWith reason: DisconnectReason?) -> RequesterAction {
        guard state != .finished else { return .wait }
        return finish(failure, closeWith: reason)
    }

    private mutating func connect(attempt: Int, now: Instant) -> RequesterAction {
        state = .connecting(attempt: attempt)
        self.attempt = attempt
        // The driver reports a connect timeout itself; this later deadline only guards against a
        // report that never comes, so the exchange (and its slot) always ends.
        deadline = now + settings.connectTimeout + settings.responseTimeout
        return .connect(remote, timeout: settings.connectTimeout)
    }

    private mutating func finish(_ failure: LookupFailure, closeWith reason: DisconnectReason?) -> RequesterAction {
        state = .finished
        deadline = nil
        return .fail(failure, closeWith: reason)
    }
}
