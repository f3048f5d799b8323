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
/// Every `interval` it sends Ping with a fresh random nonce and expects the Pong echoing it within
/// `timeout`. An unanswered ping is a miss; `missesMax` consecutive misses make the peer unresponsive;
/// a correct pong resets the count. A pong with another nonce, or arriving at or after its deadline,
/// is stale and changes nothing. Every Ping from the remote is answered with a Pong at once (a
/// replayed nonce is answered again; answering changes no state).
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
    /// When the next ping goes out (nil while suspended).
    private var nextPing: Instant?
    /// The ping waiting for its pong.
    private var outstanding: Outstanding?
    /// Consecutive unanswered pings.
    private(set) var misses = 0

    /// A machine for a peer established at `now`; the first ping goes out one interval later.
    init(settings: Settings, now: Instant) {
        self.settings = settings
        nextPing = now + settings.interval
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
        let nonce = Nonce.random(using: &rng)
        outstanding = Outstanding(nonce: nonce, deadline: now + settings.timeout)
        // From `now`, not from `due`: a late timer must not cause a burst of catch-up pings.
        nextPing = now + settings.interval
        return .send(.ping(nonce))
    }

    /// A Ping-protocol payload from the peer.
    mutating func received(_ payload: PingPayload, now: Instant) -> PingAction {
        switch payload {
        case .ping(let nonce):
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

    /// Starts pinging again, one interval from `now`. The miss count is kept.
    mutating func resume(now: Instant) {
        guard nextPing == nil else { return }
        nextPing = now + settings.interval
    }
}
