/// What the owner of a `RefreshMachine` must do.
enum RefreshAction: Hashable {
    /// Send a datagram from the refresh socket.
    case send(RefreshDatagram, to: Endpoint)
    /// Emit a monitor event.
    case event(NodeEvent)
    /// A received datagram was dropped (count it, and emit `.datagramDropped`).
    case drop(from: Endpoint, reason: String)
}

/// The UDP refresh plane, both sides: liveness probes of routing-table entries, and answers to
/// other nodes' probes.
///
/// **Requester.** Every `interval` (first round one interval after start) a round pings the
/// table's refresh candidates (all but connected entries, at most 8 per bucket, oldest first), at
/// most `roundProbesInFlightMax` at a time. Entries learned between rounds are queued and pinged
/// promptly instead, paced to `verifyPingsPerSecond`. A probe sends `ping(nonce)` to
/// `udp://address:discoveryPort` and waits `responseTimeout`; without an answer it backs off
/// (`refreshBackoffBase` doubling to `Max`) and pings again, `refreshRetries` attempts in all,
/// with the same nonce so a late answer to an earlier attempt still counts. A pong with the
/// probe's nonce *from the pinged IP* verifies the entry (failures reset). A probe whose attempts
/// all failed marks the entry failed; at `refreshFailuresMax` failures it is evicted
/// (`.entryEvicted`) and the round goes on. Each round emits `.refreshStarted` and `.refreshFinished`.
///
/// **Responder.** A ping is answered with a pong carrying the same nonce (the same 33 bytes, so a
/// reply is never larger than its request), within a per-source-IP token bucket; a ping over the
/// budget is dropped. Answering changes no state, so a replayed ping changes nothing either.
/// A pong that matches no probe (unsolicited, a wrong nonce, a replay of one already used) or
/// that comes from another IP than the one pinged is dropped and counted.
///
/// The machine drives the routing table it is handed (mark verified / failed, evict) and returns
/// the I/O and events for its owner to carry out; `deadline` says when `timeout` is next due.
struct RefreshMachine {
    /// Timing and limits, from `NodeConfiguration.Discovery`.
    struct Settings: Hashable {
        var interval: Duration
        var responseTimeout: Duration
        var attempts: Int
        var backoffBase: Duration
        var backoffMax: Duration
        var failuresMax: Int
        /// The gap between two verification pings (1 / `verifyPingsPerSecond`).
        var verificationSpacing: Duration
        var rateBurst: Double
        var ratePerSecond: Double
        var rateSourcesMax: Int

        init(_ discovery: NodeConfiguration.Discovery) {
            interval = discovery.refreshInterval
            responseTimeout = discovery.refreshResponseTimeout
            attempts = max(1, discovery.refreshRetries)
            backoffBase = discovery.refreshBackoffBase
            backoffMax = max(discovery.refreshBackoffBase, discovery.refreshBackoffMax)
            failuresMax = max(1, discovery.refreshFailuresMax)
            let perSecond = discovery.verifyPingsPerSecond
            verificationSpacing = perSecond > 0 ? Duration(seconds: 1 / perSecond) : discovery.refreshInterval
            rateBurst = discovery.refreshRateBurst
            ratePerSecond = discovery.refreshRatePerSecond
            rateSourcesMax = max(1, discovery.refreshRateSourcesMax)
        }
    }

    /// Probes of one round in flight at once (the original pinged in chunks of 16).
    static let roundProbesInFlightMax = 16
    /// Verification probes in flight at once; more newcomers wait in the queue.
    static let verificationProbesInFlightMax = 16
    /// Newcomers queued for verification; beyond it they wait for the next round. A table holds
    /// at most this many entries.
    static let verificationQueueMax = RoutingTable.bucketCount * RoutingTable.bucketEntriesMax

    /// Why an entry is being probed.
    enum Purpose: Hashable {
        /// Part of a periodic refresh round.
        case round
        /// A prompt check of a newly learned entry.
        case verification
    }

    /// One entry being probed.
    struct Probe: Equatable {
        var id: PeerID
        var target: Endpoint
        var nonce: Nonce
        var purpose: Purpose
        /// Attempts made so far (1...attempts).
        var attempt: Int
        /// True while a ping is out; false while backing off before the next attempt.
        var isAwaitingPong: Bool
        var deadline: Instant
        var backoff: Backoff
    }

    /// Tallies of the running round.
    struct Round: Equatable {
        var candidates: [PeerID]
        var nextCandidate = 0
        var verified = 0
        var failed = 0
        var evicted = 0
    }

    let settings: Settings
    private(set) var probes: [Probe] = []
    private(set) var round: Round?
    private var verificationQueue: [PeerID] = []
    private var verificationQueueHead = 0
    private var queuedForVerification: Set<PeerID> = []
    private var nextRoundAt: Instant?
    private var nextVerificationAt = Instant.zero
    private var limiter: RateLimiter<IPAddress>

    init(settings: Settings) {
        self.settings = settings
        limiter = RateLimiter(
            capacity: settings.rateBurst, refillPerSecond: settings.ratePerSecond, sourcesMax: settings.rateSourcesMax)
    }

    /// Entries waiting for a verification ping.
    var verificationBacklog: Int { verificationQueue.count - verificationQueueHead }

    /// Probes in flight for `purpose`.
    func probeCount(_ purpose: Purpose) -> Int { probes.reduce(0) { $0 + ($1.purpose == purpose ? 1 : 0) } }

    /// When `timeout` is next due.
    var deadline: Instant? {
        var earliest = nextRoundAt
        for probe in probes where earliest.map({ probe.deadline < $0 }) ?? true { earliest = probe.deadline }
        if verificationBacklog > 0, probeCount(.verification) < Self.verificationProbesInFlightMax {
            earliest = min(earliest ?? nextVerificationAt, nextVerificationAt)
        }
        return earliest
    }

    /// Starts the round timer: the first round comes one interval from now.
    mutating func start(now: Instant) {
        if nextRoundAt == nil { nextRoundAt = now + settings.interval }
    }

    /// Forgets every probe, queue and timer.
    mutating func stop() {
        probes = []
        round = nil
        verificationQueue = []
        verificationQueueHead = 0
        queuedForVerification = []
        nextRoundAt = nil
    }

    /// A new unverified entry: ping it soon (call `timeout` at `deadline`).
    mutating func learned(_ id: PeerID) {
        guard verificationBacklog < Self.verificationQueueMax, queuedForVerification.insert(id).inserted else { return }
        verificationQueue.append(id)
    }

    /// Runs whatever is due: a new round, probe timeouts and retries, verification pings.
    mutating func timeout(
        now: Instant, table: inout RoutingTable, rng: inout SplitMix64, actions: inout [RefreshAction]
    ) {
        if let due = nextRoundAt, due <= now {
            nextRoundAt = now + settings.interval
            if round == nil { beginRound(table: table, actions: &actions) }
        }
        var index = 0
        while index < probes.count {
            guard probes[index].deadline <= now else {
                index += 1
                continue
            }
            if probes[index].isAwaitingPong {
                if probes[index].attempt < settings.attempts {
                    probes[index].isAwaitingPong = false
                    probes[index].deadline = now + probes[index].backoff.nextDelay(using: &rng)
                    index += 1
                } else {
                    let probe = probes.remove(at: index)
                    probeFailed(probe, now: now, table: &table, actions: &actions)
                }
            } else {
                probes[index].attempt += 1
                probes[index].isAwaitingPong = true
                probes[index].deadline = now + settings.responseTimeout
                actions.append(.send(.ping(probes[index].nonce), to: probes[index].target))
                index += 1
            }
        }
        pump(now: now, table: table, rng: &rng, actions: &actions)
    }

    /// A datagram arrived on the refresh socket from `source`.
    mutating func received(
        _ datagram: RefreshDatagram, from source: Endpoint, now: Instant, table: inout RoutingTable,
        rng: inout SplitMix64, actions: inout [RefreshAction]
    ) {
        switch datagram {
        case .ping(let nonce):
            if limiter.allow(source.address.unmapped, now: now) {
                actions.append(.send(.pong(nonce), to: source))
            } else {
                actions.append(.drop(from: source, reason: "ping rate limit"))
            }
        case .pong(let nonce):
            guard let index = probes.firstIndex(where: { $0.nonce == nonce }) else {
                actions.append(.drop(from: source, reason: "unsolicited pong"))
                return
            }
            guard probes[index].target.address.unmapped == source.address.unmapped else {
                actions.append(.drop(from: source, reason: "pong from another address than pinged"))
                return
            }
            let probe = probes.remove(at: index)
            probeSucceeded(probe, now: now, table: &table, actions: &actions)
            pump(now: now, table: table, rng: &rng, actions: &actions)
        }
    }

    // MARK: Rounds and probes

    private mutating func beginRound(table: RoutingTable, actions: inout [RefreshAction]) {
        let candidates = table.refreshCandidates().map(\.id)
        actions.append(.event(.refreshStarted(candidates: candidates.count)))
        round = Round(candidates: candidates)
    }

    /// Starts probes while there is room, and closes the round once its last probe ended.
    private mutating func pump(
        now: Instant, table: RoutingTable, rng: inout SplitMix64, actions: inout [RefreshAction]
    ) {
        if var current = round {
            while current.nextCandidate < current.candidates.count,
                probeCount(.round) < Self.roundProbesInFlightMax
            {
                let id = current.candidates[current.nextCandidate]
                current.nextCandidate += 1
                if let entry = table.entry(for: id), EntryStatusSet.refreshable.contains(entry.status) {
                    startProbe(entry.record, .round, now: now, rng: &rng, actions: &actions)
                }
            }
            round = current
            if current.nextCandidate == current.candidates.count, probeCount(.round) == 0 {
                actions.append(.event(.refreshFinished(
                    verified: current.verified, failed: current.failed, evicted: current.evicted)))
                round = nil
            }
        }
        while verificationBacklog > 0, now >= nextVerificationAt,
            probeCount(.verification) < Self.verificationProbesInFlightMax
        {
            let id = verificationQueue[verificationQueueHead]
            verificationQueueHead += 1
            queuedForVerification.remove(id)
            guard let entry = table.entry(for: id), entry.status == .unverified else { continue }
            startProbe(entry.record, .verification, now: now, rng: &rng, actions: &actions)
            nextVerificationAt = now + settings.verificationSpacing
        }
        if verificationQueueHead == verificationQueue.count {
            verificationQueue.removeAll(keepingCapacity: true)
            verificationQueueHead = 0
        }
    }

    private mutating func startProbe(
        _ record: PeerRecord, _ purpose: Purpose, now: Instant, rng: inout SplitMix64, actions: inout [RefreshAction]
    ) {
        guard !probes.contains(where: { $0.id == record.id }) else { return }
        let probe = Probe(
            id: record.id, target: .udp(record.address, record.discoveryPort), nonce: .random(using: &rng),
            purpose: purpose, attempt: 1, isAwaitingPong: true, deadline: now + settings.responseTimeout,
            backoff: Backoff(base: settings.backoffBase, max: settings.backoffMax))
        probes.append(probe)
        actions.append(.send(.ping(probe.nonce), to: probe.target))
    }

    private mutating func probeSucceeded(
        _ probe: Probe, now: Instant, table: inout RoutingTable, actions: inout [RefreshAction]
    ) {
        let before = table.entry(for: probe.id)?.status
        guard table.markVerified(probe.id, now: now) else { return }  // Evicted meanwhile.
        if probe.purpose == .round { round?.verified += 1 }
        if before == .unverified || before == .failed { actions.append(.event(.entryVerified(probe.id))) }
    }

    private mutating func probeFailed(
        _ probe: Probe, now: Instant, table: inout RoutingTable, actions: inout [RefreshAction]
    ) {
        guard let failures = table.markFailed(probe.id, now: now) else { return }  // Gone meanwhile.
        if failures >= settings.failuresMax {
            table.remove(probe.id)
            actions.append(.event(.entryEvicted(probe.id)))
            if probe.purpose == .round { round?.evicted += 1 }
        } else if probe.purpose == .round {
            round?.failed += 1
        }
    }
}
