/// When the node seeds its routing table, and through what.
///
/// A seeding pass runs a `LookupSession` through one random routing-table entry fit to share
/// (verified or connected), or, when there is none, through every bootstrap endpoint in random
/// order. The node seeds once at start; afterwards, whenever the dialer has a free outbound slot
/// and nothing to dial (`starved`), it waits `seedingBackoffBase`, doubling after every pass that
/// leaves it still starved up to `seedingInterval`, and seeds again — forever: a node never gives
/// up, whether its seeds were down at start or its table emptied later (RELIABILITY.md
/// scenario 44). Only full outbound slots (`satisfied`) drop a planned pass and start the backoff
/// over: a node whose dials keep failing (remotes full, pacing) seeds at the backoff's pace, never
/// after every dial.
struct Seeding {
    /// Where seeding stands.
    enum State: Hashable {
        /// Nothing planned: the dialer has work, or its slots are full.
        case idle
        /// Starved; the next pass starts at the deadline.
        case backingOff(until: Instant)
        /// A pass is running with this many sessions outstanding.
        case seeding(sessionsLeft: Int)
    }

    private(set) var state = State.idle
    private var backoff: Backoff
    /// How often a pass goes through the bootstrap nodes even though the table has entries to
    /// seed through (the seeding interval).
    let bootstrapInterval: Duration
    /// When the last pass through the bootstrap nodes began.
    private(set) var lastBootstrapPass: Instant?

    init(configuration: NodeConfiguration.Discovery) {
        let base = configuration.seedingBackoffBase
        backoff = Backoff(base: base, max: max(base, configuration.seedingInterval))
        bootstrapInterval = max(base, configuration.seedingInterval)
    }

    /// True when the next pass should go through the bootstrap nodes, whatever the table holds:
    /// none went through them for `bootstrapInterval`. A table fed only by its own side of a
    /// partition never learns of the other side again; the bootstrap nodes are the one outside
    /// view a node is configured with (see `DiscoveryCore`'s partition note).
    func isBootstrapDue(now: Instant) -> Bool {
        guard let lastBootstrapPass else { return true }
        return now.duration(since: lastBootstrapPass) >= bootstrapInterval
    }

    /// A pass through the bootstrap nodes began.
    mutating func bootstrapPassBegan(now: Instant) {
        lastBootstrapPass = now
    }

    /// When `timeout(now:)` is due.
    var deadline: Instant? {
        if case .backingOff(let until) = state { return until }
        return nil
    }

    /// True while a pass is running.
    var isSeeding: Bool {
        if case .seeding = state { return true }
        return false
    }

    /// The dialer has a free slot and nothing to dial. Returns the wait before the next pass when
    /// one was just planned (for the `.seedingBackoff` event), nil when a pass is already running
    /// or planned.
    mutating func starved(now: Instant, rng: inout SplitMix64) -> Duration? {
        guard state == .idle else { return nil }
        let delay = backoff.nextDelay(using: &rng)
        state = .backingOff(until: now + delay)
        return delay
    }

    /// Something is dialable again (or the outbound slots are full): drop a planned pass and
    /// start the backoff over. A running pass is left to finish.
    mutating func satisfied() {
        backoff.reset()
        if case .backingOff = state { state = .idle }
    }

    /// A dial connected: the node is getting somewhere (its table has live entries to seed
    /// through), so the backoff starts over and a planned pass comes no later than the base wait.
    mutating func progressed(now: Instant, rng: inout SplitMix64) {
        backoff.reset()
        if case .backingOff(let until) = state {
            let soon = now + backoff.nextDelay(using: &rng)
            if soon < until { state = .backingOff(until: soon) }
        }
    }

    /// Starts a pass now (at start, or when the wait is over); false if one is running.
    mutating func beginPass() -> Bool {
        if isSeeding { return false }
        state = .seeding(sessionsLeft: 0)
        return true
    }

    /// The planned wait passed: true when a pass must begin now.
    mutating func timeout(now: Instant) -> Bool {
        guard let deadline, deadline <= now else { return false }
        return beginPass()
    }

    /// The pass began `count` sessions. Returns true when it is already over (no session).
    mutating func passPlanned(sessions count: Int) -> Bool {
        guard isSeeding else { return false }
        state = count > 0 ? .seeding(sessionsLeft: count) : .idle
        return count == 0
    }

    /// One session of the pass ended. Returns true when the pass is over.
    mutating func sessionEnded() -> Bool {
        guard case .seeding(let left) = state, left > 0 else { return false }
        state = left > 1 ? .seeding(sessionsLeft: left - 1) : .idle
        return left == 1
    }

    /// The endpoints of one pass, with the responder ID when known: one random shareable entry,
    /// else (or when `throughBootstrap` and there is one) every bootstrap endpoint (except
    /// `ownLookupEndpoint`) in random order.
    static func plan(
        table: RoutingTable, bootstrap: [Endpoint], ownLookupEndpoint: Endpoint?, throughBootstrap: Bool = false,
        rng: inout SplitMix64
    ) -> [(endpoint: Endpoint, responderID: PeerID?)] {
        let hasBootstrap = bootstrap.contains { Endpoint.tcp($0.address, $0.port) != ownLookupEndpoint }
        if !(throughBootstrap && hasBootstrap), let entry = table.randomEntry(matching: .shareable, using: &rng) {
            return [(Endpoint.tcp(entry.address, entry.discoveryPort), entry.id)]
        }
        var endpoints: [Endpoint] = []
        for configured in bootstrap {
            let endpoint = Endpoint.tcp(configured.address, configured.port)  // Lookups are TCP.
            if endpoint != ownLookupEndpoint && !endpoints.contains(endpoint) { endpoints.append(endpoint) }
        }
        rng.shuffle(&endpoints)
        return endpoints.map { ($0, nil) }
    }
}
