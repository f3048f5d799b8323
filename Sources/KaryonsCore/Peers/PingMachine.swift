/// What the caller must do after feeding an event to a `PingMachine`.
enum PingAction: Hashable {
    /// Nothing.
    case none
    /// Send this payload in a Protocol frame with ID `PING`.
    case send(PingPayload)
    /// The peer missed `missesMax` consecutive pings: drop it (`.pingTimeout`).
    case unresponsive
}

/// The core keep-alive protocol of one established peer, as an I/O-free machine (DESIGN.md, "Ping
/// protocol"; karyons-behaviour.md §5.4 with its cumulative-miss defect fixed).
///
/// It pings only a peer that has gone quiet: after `silenceAllowed` without a ping from us or a frame
/// from the peer, it sends Ping with a fresh random nonce and expects the Pong echoing it within
/// `timeout`. An unanswered ping is a miss; `missesMax` consecutive misses make the peer unresponsive;
/// a correct pong resets the count. A pong with another nonce, or arriving at or after its deadline,
/// is stale and changes nothing. Every Ping from the remote is answered with a Pong at once (a
/// replayed nonce is answered again).
///
/// One side keeps a connection alive, not both (karyons pings from both ends, every `interval`,
/// whatever else flows: four frames per interval where two prove the same). The dialler's
/// `silenceAllowed` is `interval`, the acceptor's `interval + timeout`, and a Ping from the peer
/// defers our own next ping to `interval + timeout` after it. So between two Karyons nodes only the
/// dialler pings; a karyons peer that pings every interval is answered and never pinged; and a peer
/// whose other traffic keeps arriving is never pinged at all, as in gRPC's and TCP's keep-alive.
/// Liveness is still checked within `interval + timeout` of the last frame heard, on both sides.
/// A Pong does not count as traffic heard: the dialler's next ping follows its previous one.
///
/// While suspended (the application paused delivery, so we do not read the socket and could not see
/// a pong) it neither pings nor counts misses; `resume` starts a fresh interval.
///
/// Events: `timeout(now:rng:)` when `nextDeadline` passes (spurious calls are harmless),
/// `received(_:now:)`, `suspend()`, `resume(now:)`.
struct PingMachine {
    /// Timing and the miss limit (from `NodeConfiguration.Peers`).
    struct Settings: Hashable {
        var interval: Duration
        var timeout: Duration
        var missesMax: Int

        init(interval: Duration, timeout: Duration, missesMax: Int) {
            precondition(missesMax >= 1, "BUG in Karyons: pingMissesMax must be at least 1, not \(missesMax)")
            precondition(interval > .zero, "BUG in Karyons: pingInterval must be positive")
            self.interval = interval
            self.timeout = timeout
            self.missesMax = missesMax
        }

        init(_ peers: NodeConfiguration.Peers) {
            self.init(interval: peers.pingInterval, timeout: peers.pingTimeout, missesMax: peers.pingMissesMax)
        }
    }

    private struct Outstanding: Hashable {
        var nonce: Nonce
        var deadline: Instant
    }

    private let settings: Settings
    /// How long the peer may stay quiet before we ping it (see the type's comment).
    let silenceAllowed: Duration
    /// When the next ping is due unless the peer was heard since (nil while suspended).
    private var nextPing: Instant?
    /// When a frame other than a Pong last came from the peer (the establishment counts).
    private var lastHeard: Instant
    /// The ping waiting for its pong.
    private var outstanding: Outstanding?
    /// Consecutive unanswered pings.
    private(set) var misses = 0

    /// A machine for a peer established at `now`, on a connection we dialled (`.outbound`) or
    /// accepted; the first ping is due `silenceAllowed` later.
    init(settings: Settings, direction: Direction, now: Instant) {
        self.settings = settings
        silenceAllowed = direction == .outbound ? settings.interval : settings.interval + settings.timeout
        nextPing = now + silenceAllowed
        lastHeard = now
    }

    /// When `timeout(now:rng:)` is next due.
    var nextDeadline: Instant? {
        guard let nextPing else { return nil }
        guard let outstanding else { return nextPing }
        return min(outstanding.deadline, nextPing)
    }

    /// True while a ping waits for its pong.
    var isAwaitingPong: Bool { outstanding != nil }

    /// Counts a miss if the outstanding ping expired, and pings if one is due.
    mutating func timeout(now: Instant, rng: inout SplitMix64) -> PingAction {
        guard let due = nextPing else { return .none }
        if let pending = outstanding, now >= pending.deadline || now >= due {
            outstanding = nil
            misses += 1
            if misses >= settings.missesMax { return .unresponsive }
        }
        guard outstanding == nil, now >= due else { return .none }
        let quietUntil = lastHeard + silenceAllowed
        if quietUntil > now {
            nextPing = quietUntil  // The peer was heard meanwhile: not quiet yet.
            return .none
        }
        let nonce = Nonce.random(using: &rng)
        outstanding = Outstanding(nonce: nonce, deadline: now + settings.timeout)
        // From `now`, not from `due`: a late timer must not cause a burst of catch-up pings.
        nextPing = now + silenceAllowed
        return .send(.ping(nonce))
    }

    /// A frame of another protocol came from the peer: it is alive, so the next ping can wait. Only
    /// noted; a due ping is deferred when its time comes (no deadline moves per frame).
    mutating func heard(now: Instant) {
        lastHeard = now
    }

    /// A Ping-protocol payload from the peer.
    mutating func received(_ payload: PingPayload, now: Instant) -> PingAction {
        switch payload {
        case .ping(let nonce):
            // The peer checks this connection itself: answer, and let it. Moved at once (a Ping is
            // rare), so the acceptor's deadline never comes while the dialler's pings arrive.
            lastHeard = now
            if outstanding == nil, let due = nextPing {
                nextPing = max(due, now + settings.interval + settings.timeout)
            }
            return .send(.pong(nonce))
        case .pong(let nonce):
            guard let pending = outstanding, pending.nonce == nonce, now < pending.deadline else {
                return .none  // Stale: an old nonce, a late answer, or no ping outstanding.
            }
            outstanding = nil
            misses = 0
            return .none
        }
    }

    /// Stops pinging and forgets the outstanding ping (it cannot be answered while we do not read).
    mutating func suspend() {
        nextPing = nil
        outstanding = nil
    }

    /// Starts pinging again, `silenceAllowed` from `now`. The miss count is kept.
    mutating func resume(now: Instant) {
        guard nextPing == nil else { return }
        nextPing = now + silenceAllowed
        lastHeard = now
    }
}
