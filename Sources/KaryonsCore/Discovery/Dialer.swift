/// What the owner of a `Dialer` must do.
enum DialerAction: Hashable {
    /// Ask the peer half to dial this data endpoint; `expected` is the table entry's ID (nil for a
    /// manual peer). The peer half answers `.dialFailed` or `.peerAdded`.
    case dial(Endpoint, expected: PeerID?)
}

/// How a `Dialer.fill` call left the outbound slots.
enum DialerFill: Hashable {
    /// Every outbound slot is taken (dialling or connected).
    case full
    /// A slot is free and nothing in the table can be dialled: the node needs more peers.
    case starved
    /// A slot is free and something could be dialled, but pacing holds new dials back after failed
    /// ones (see `Dialer`): the node is not short of candidates, so this must not start lookups.
    case paced
}

/// Fills the outbound peer slots and keeps them filled.
///
/// Candidates are drawn uniformly over the routing table's verified entries that we are not
/// connected or dialling to, in either direction (an inbound peer found in the table is not
/// dialled again), rather than over bucket heads (RELIABILITY.md scenario 38). A dial that fails is
/// attempted again after a backoff (`connectBackoffBase` doubling to `Max`), `connectRetries`
/// attempts in all, holding its slot; after the last the entry is marked failed, so it is no longer
/// dialled until a refresh ping verifies it again. A connected entry is marked connected, and
/// verified again when the connection ends.
///
/// Manual peers (`dialPeers`, `.dial` commands) are dialled first, and redialled after a backoff
/// (from `connectBackoffBase`, doubling to `redialBackoffMax`) whenever a dial fails or the
/// connection drops; the backoff starts over once a connection has lasted `redialBackoffMax`.
/// While waiting for a redial a manual peer holds no slot.
///
/// Pacing (a failing node must not storm the network with dials). A remote that refuses us for lack
/// of a slot (Shutdown(noFreeSlot): its inbound slots or its per-subnet cap are full) is not
/// retried: it cools down for `dialRefusedCoolDown` (jittered by ±50%, at most `coolDownsMax`
/// entries at once), so that a lookup verifying it again does not make it a candidate at once. In a
/// full bucket its entry is also marked failed at once, for `dialRefusalMarkDuration` (at most
/// `coolDownsMax` marks at once), so that a newly learned entry may take its place meanwhile; then
/// an entry still failed only by that refusal is verified again, while it goes on cooling down: the
/// node answered, and a node that is full is still a sound hop for lookups (lookup slots are its
/// own), so keeping it failed for the whole cool-down would misreport a saturated network's tables
/// (in a 10,000-node run, about one entry in eight, for minutes). No entry is marked where that
/// would leave the bucket fewer than `unfailedKeptPerBucket` entries not failed (a node whose
/// every known node is full, a late joiner in a saturated network, would otherwise end with nothing
/// it may share or dial again). After any failed table
/// dial that may be the network's doing (connect and handshake failures, a remote refusal) new
/// table dials are paced: the next waits a gap that starts at `dialPacingBase` and doubles with
/// each consecutive failure up to `dialPacingMax` (jittered by ±50%), and while failures keep
/// coming only one new entry is dialled per gap. A dial
/// that connects ends the pacing. Duplicates, self dials and our own lack of a slot are nobody's
/// fault and pace nothing (a simultaneous open ends in a duplicate on one side by design).
///
/// Spares. Buckets keep their live entries, so a node whose table holds only nodes it is already
/// connected to (or that are full) cannot take in the nodes its lookups find — after a partition,
/// the other side. The records its lookups returned that the table had no room for are kept as
/// spares (the newest `sparesMax`), and dialled, with the ID they claim expected, only when the
/// table offers nothing to dial; a spare is taken for one dial (with its retries), whatever the outcome.
///
/// Every slot is accounted for from the `.dial` request until the peer half reports
/// `.dialFailed` or `.peerRemoved` for it; `usedSlots` never exceeds `slotsMax`.
struct Dialer {
    /// Slots, retries and backoffs, from `NodeConfiguration`.
    struct Settings: Hashable {
        var slotsMax: Int
        var attempts: Int
        var backoffBase: Duration
        var backoffMax: Duration
        var redialBackoffMax: Duration
        var refusedCoolDown: Duration
        var refusalMarkDuration: Duration
        var pacingBase: Duration
        var pacingMax: Duration

        init(_ configuration: NodeConfiguration) {
            let discovery = configuration.discovery
            refusedCoolDown = discovery.dialRefusedCoolDown
            refusalMarkDuration = min(discovery.dialRefusalMarkDuration, discovery.dialRefusedCoolDown)
            pacingBase = discovery.dialPacingBase
            pacingMax = discovery.dialPacingMax == .zero ? .zero : max(discovery.dialPacingBase, discovery.dialPacingMax)
            slotsMax = max(0, configuration.slots.outbound)
            attempts = max(1, configuration.peers.connectRetries)
            backoffBase = configuration.peers.connectBackoffBase
            backoffMax = max(backoffBase, configuration.peers.connectBackoffMax)
            redialBackoffMax = max(backoffBase, configuration.peers.redialBackoffMax)
        }
    }

    /// Random draws tried before falling back to a scan when most verified entries are excluded.
    static let randomDrawsMax = 16
    /// Entries a refusal leaves unfailed in a full bucket at least (see the type).
    static let unfailedKeptPerBucket = 2

    /// A routing-table entry being dialled, or connected after a dial.
    struct TableDial: Equatable {
        var endpoint: Endpoint
        var id: PeerID
        /// Attempts made so far.
        var attempt: Int
        /// Set while backing off before the next attempt.
        var retryAt: Instant?
        var backoff: Backoff
        var isConnected: Bool
    }

    /// A manual peer's state.
    enum ManualState: Hashable {
        /// Waiting for a free slot.
        case ready
        /// Backing off before the next dial.
        case waiting(until: Instant)
        /// A dial is in flight.
        case dialling
        /// Connected since the instant given.
        case connected(since: Instant)
    }

    /// A manual peer: an endpoint the application wants connected.
    struct ManualPeer: Equatable {
        var endpoint: Endpoint
        var state: ManualState
        var backoff: Backoff
        /// The ID of the peer reached, while connected (its table entry is not dialled meanwhile).
        var peerID: PeerID?
    }

    let settings: Settings
    /// Table entries being dialled or connected outbound, in the order dialled.
    private(set) var tableDials: [TableDial] = []
    /// Manual peers, in the order configured.
    private(set) var manualPeers: [ManualPeer] = []
    /// Peers that dialled us (never dialled while they stay).
    private(set) var inboundPeers: Set<PeerID> = []
    /// Data endpoints that led back to this node (never dialled again), at most `selfEndpointsMax`.
    private(set) var selfEndpoints: Set<Endpoint> = []

    /// How many self endpoints are remembered (a node has few addresses; more is a misbehaving table).
    static let selfEndpointsMax = 8
    /// Entries cooling down at once; at the limit the one whose cool-down ends first is forgotten (a
    /// table holds at most 640 entries and few refuse at once, so this bounds memory, not behaviour).
    static let coolDownsMax = 256

    /// Records learned from lookups that the table had no room for, newest last (at most
    /// `sparesMax`): dialled only when the table offers nothing to dial (see the type).
    private(set) var spares: [PeerRecord] = []
    /// Spare records kept.
    static let sparesMax = 16

    /// Entries the remote refused for lack of a slot, each until its cool-down ends.
    private(set) var coolDowns: [PeerID: Instant] = [:] {
        didSet { earliestCoolDownEnd = coolDowns.values.min() }
    }
    /// The earliest end in `coolDowns`, kept as they change (rarely): `deadline` is asked after every
    /// discovery event, and scanning every cool-down there took 2.9% of a 10,000-node simulation's
    /// first minute, when most nodes have dozens.
    private(set) var earliestCoolDownEnd: Instant?
    /// Entries that were verified until a refusal marked them failed, each until its mark ends: then
    /// verified again, if nothing else failed them meanwhile. At most `coolDownsMax`. The queue keeps
    /// the earliest end for `deadline`, which is asked after every discovery event.
    private(set) var failedByRefusal = DeadlineQueue<PeerID>()
    /// Table dials failed in a row since the last one that connected (drives the pacing gap).
    private(set) var consecutiveFailures = 0
    /// While pacing, no new table entry is dialled before this instant.
    private(set) var nextDialAt: Instant?

    init(settings: Settings) {
        self.settings = settings
    }

    /// Outbound slots taken: table dials (dialling, backing off or connected) and manual peers
    /// dialling or connected.
    var usedSlots: Int {
        tableDials.count + manualPeers.reduce(0) { count, peer in
            switch peer.state {
            case .dialling, .connected: return count + 1
            case .ready, .waiting: return count
            }
        }
    }

    /// When `timeout(now:)` is next due.
    var deadline: Instant? {
        var earliest: Instant?
        for dial in tableDials {
            if let retryAt = dial.retryAt { earliest = min(earliest ?? retryAt, retryAt) }
        }
        for peer in manualPeers {
            if case .waiting(let until) = peer.state { earliest = min(earliest ?? until, until) }
        }
        if let nextDialAt { earliest = min(earliest ?? nextDialAt, nextDialAt) }
        if let earliestCoolDownEnd { earliest = min(earliest ?? earliestCoolDownEnd, earliestCoolDownEnd) }
        if let markEnd = failedByRefusal.nextDeadline { earliest = min(earliest ?? markEnd, markEnd) }
        return earliest
    }

    /// Adds a manual peer (dialled at the next `fill`); a repeated endpoint is ignored.
    mutating func addManual(_ endpoint: Endpoint) {
        let endpoint = Endpoint.tcp(endpoint.address, endpoint.port)
        guard !manualPeers.contains(where: { $0.endpoint == endpoint }) else { return }
        manualPeers.append(ManualPeer(endpoint: endpoint, state: .ready,
                                      backoff: Backoff(base: settings.backoffBase, max: settings.redialBackoffMax)))
    }

    /// Takes free slots: manual peers first, then table entries as pacing allows (see the type).
    /// Appends the dials to `actions`.
    mutating func fill(
        table: RoutingTable, now: Instant, rng: inout SplitMix64, actions: inout [DialerAction]
    ) -> DialerFill {
        for index in manualPeers.indices where usedSlots < settings.slotsMax && manualPeers[index].state == .ready {
            manualPeers[index].state = .dialling
            actions.append(.dial(manualPeers[index].endpoint, expected: nil))
        }
        while usedSlots < settings.slotsMax {
            if consecutiveFailures > 0, let nextDialAt, now < nextDialAt {
                return mayHaveCandidate(in: table) ? .paced : .starved
            }
            guard let record = pickCandidate(table: table, rng: &rng) ?? takeSpare() else { return .starved }
            let endpoint = Endpoint.tcp(record.address, record.port)
            tableDials.append(TableDial(
                endpoint: endpoint, id: record.id, attempt: 1, retryAt: nil,
                backoff: Backoff(base: settings.backoffBase, max: settings.backoffMax), isConnected: false))
            actions.append(.dial(endpoint, expected: record.id))
            // While failures keep coming, one new entry per gap.
            if consecutiveFailures > 0 { nextDialAt = now + pacingGap(rng: &rng) }
        }
        return .full
    }

    /// The gap between new table dials after `consecutiveFailures` failures in a row: the base
    /// doubled per further failure, capped, jittered by ±50%.
    private func pacingGap(rng: inout SplitMix64) -> Duration {
        var gap = settings.pacingBase
        var doublings = max(0, consecutiveFailures - 1)
        while doublings > 0 && gap < settings.pacingMax {
            gap = gap * 2
            doublings -= 1
        }
        return jittered(min(gap, settings.pacingMax), rng: &rng)
    }

    /// `duration` times a uniform factor in [0.5, 1.5).
    private func jittered(_ duration: Duration, rng: inout SplitMix64) -> Duration {
        Duration(nanoseconds: duration.nanoseconds / 2 + rng.uniform(below: max(1, duration.nanoseconds)))
    }

    /// A dial candidate drawn uniformly over the verified entries not excluded (see the type).
    func pickCandidate(table: RoutingTable, rng: inout SplitMix64) -> PeerRecord? {
        guard mayHaveCandidate(in: table) else { return nil }
        for _ in 0..<Self.randomDrawsMax {
            guard let record = table.randomEntry(matching: .dialable, using: &rng) else { return nil }
            if !isExcluded(record) { return record }
        }
        // Most verified entries are excluded: draw among the others directly.
        let eligible = table.entries(matching: .dialable).lazy.map(\.record).filter { !isExcluded($0) }
        let records = Array(eligible)
        return records.isEmpty ? nil : records[rng.index(below: records.count)]
    }

    /// A learned record the table had no room for: kept as a spare (see the type).
    mutating func offerSpare(_ record: PeerRecord) {
        guard !spares.contains(where: { $0.id == record.id }) else { return }
        if spares.count >= Self.sparesMax { spares.removeFirst(spares.count - Self.sparesMax + 1) }
        spares.append(record)
    }

    /// The newest spare not excluded (spares found excluded are dropped).
    private mutating func takeSpare() -> PeerRecord? {
        while let record = spares.popLast() {
            if !isExcluded(record) { return record }
        }
        return nil
    }

    /// False when every verified entry is one we dial or that dialled us, and there is no spare, so
    /// a draw would find nothing: counted without drawing or allocating, because the node asks
    /// after every event.
    func mayHaveCandidate(in table: RoutingTable) -> Bool {
        if !spares.isEmpty { return true }
        let dialable = table.count(matching: .dialable)
        guard dialable > 0 else { return false }
        var excluded = 0
        for dial in tableDials where table.entry(for: dial.id)?.status == .verified { excluded += 1 }
        for id in inboundPeers where table.entry(for: id)?.status == .verified {
            if !tableDials.contains(where: { $0.id == id }) { excluded += 1 }
        }
        for id in coolDowns.keys where table.entry(for: id)?.status == .verified {
            if !inboundPeers.contains(id) && !tableDials.contains(where: { $0.id == id }) { excluded += 1 }
        }
        return excluded < dialable
    }

    /// True for an entry we are already connected or dialling to, by ID or by endpoint.
    func isExcluded(_ record: PeerRecord) -> Bool {
        if inboundPeers.contains(record.id) || coolDowns[record.id] != nil { return true }
        let endpoint = Endpoint.tcp(record.address, record.port)
        return selfEndpoints.contains(endpoint) || tableDials.contains { $0.id == record.id || $0.endpoint == endpoint }
            || manualPeers.contains { $0.endpoint == endpoint || $0.peerID == record.id }
    }

    /// Backoffs that ended: table dials are attempted again; manual peers become ready for `fill`;
    /// ended cool-downs are forgotten; an entry whose refusal mark ended is verified again (a
    /// refusal is an answer: the node is alive) unless it failed otherwise meanwhile.
    mutating func timeout(now: Instant, table: inout RoutingTable, actions: inout [DialerAction]) {
        if let earliestCoolDownEnd, earliestCoolDownEnd <= now {
            coolDowns = coolDowns.filter { $0.value > now }  // One store: `didSet` scans what is left once.
        }
        var ended: [PeerID] = []
        while let id = failedByRefusal.popDue(now: now) { ended.append(id) }
        for id in ended.sorted() {  // In ID order, whatever order marks ending together pop in.
            guard let entry = table.entry(for: id) else { continue }
            if entry.status == .failed && entry.failureCount == 1 { table.markVerified(id, now: entry.lastSeen) }
        }
        if let nextDialAt, nextDialAt <= now { self.nextDialAt = nil }  // The gap is over: `fill` may dial.
        for index in tableDials.indices {
            guard let retryAt = tableDials[index].retryAt, retryAt <= now else { continue }
            tableDials[index].retryAt = nil
            tableDials[index].attempt += 1
            actions.append(.dial(tableDials[index].endpoint, expected: tableDials[index].id))
        }
        for index in manualPeers.indices {
            if case .waiting(let until) = manualPeers[index].state, until <= now { manualPeers[index].state = .ready }
        }
    }

    /// The peer half could not turn a dial into a peer. A retryable failure is tried again after a
    /// backoff, and after the last attempt the entry is marked failed (unless our own pool had no
    /// slot: not the entry's fault). A duplicate or a dial of ourselves ends the dial at once, the
    /// entry untouched; a node with another ID marks the entry failed at once. A manual peer is
    /// redialled after its backoff, except one that leads back to us, which is dropped.
    mutating func dialFailed(
        _ endpoint: Endpoint, expected: PeerID?, _ failure: DialFailure, now: Instant, table: inout RoutingTable,
        rng: inout SplitMix64
    ) {
        if let expected,
            let index = tableDials.firstIndex(where: {
                $0.endpoint == endpoint && $0.id == expected && !$0.isConnected
            })
        {
            guard tableDials[index].retryAt == nil else { return }  // Not dialling: a stale report.
            tableDialFailed(index, failure, now: now, table: &table, rng: &rng)
        } else if expected == nil, let index = manualPeers.firstIndex(where: { $0.endpoint == endpoint }),
            manualPeers[index].state == .dialling
        {
            if failure == .selfConnection {
                manualPeers.remove(at: index)
            } else {
                scheduleRedial(index, now: now, rng: &rng)
            }
        }
    }

    private mutating func tableDialFailed(
        _ index: Int, _ failure: DialFailure, now: Instant, table: inout RoutingTable, rng: inout SplitMix64
    ) {
        let dial = tableDials[index]
        switch failure {
        case .duplicatePeer:
            tableDials.remove(at: index)  // Connected some other way (inbound, manual): not its fault.
        case .handshakeFailed(.noFreeSlot, byRemote: true):
            // Alive but full: asking again soon is what storms. In a full bucket it is marked
            // failed all the same for a while (`refusalMarkDuration`), so a newly learned entry may
            // take its place (first-come buckets otherwise keep naming the same saturated nodes);
            // in a bucket with room nothing is gained by that. A bucket down to its last unfailed
            // entries keeps them: they are alive, and all the node would have left to share and
            // dial again.
            tableDials.remove(at: index)
            if failedByRefusal.count < Self.coolDownsMax, let bucket = table.bucketIndex(of: dial.id),
                table.occupancy(ofBucket: bucket) >= RoutingTable.bucketEntriesMax,
                table.occupancy(ofBucket: bucket) - table.failedCount(ofBucket: bucket) > Self.unfailedKeptPerBucket,
                table.markFailed(dial.id, now: now) == 1
            {
                failedByRefusal.schedule(dial.id, at: now + settings.refusalMarkDuration)
            }
            paceAfterFailure(now: now, rng: &rng)
            coolDown(dial.id, until: now + jittered(settings.refusedCoolDown, rng: &rng))
        case .selfConnection:
            tableDials.remove(at: index)
            if selfEndpoints.count < Self.selfEndpointsMax { selfEndpoints.insert(dial.endpoint) }
        case .unexpectedPeer:
            tableDials.remove(at: index)
            table.markFailed(dial.id, now: now)
        case .connectFailed, .handshakeFailed, .noFreeSlot:
            if failure != .noFreeSlot { paceAfterFailure(now: now, rng: &rng) }
            if inboundPeers.contains(dial.id) {
                tableDials.remove(at: index)  // It dialled us meanwhile: no need to try again.
            } else if dial.attempt < settings.attempts {
                tableDials[index].retryAt = now + tableDials[index].backoff.nextDelay(using: &rng)
            } else {
                tableDials.remove(at: index)
                if failure != .noFreeSlot { table.markFailed(dial.id, now: now) }
            }
        }
    }

    /// True when the dialer will dial `endpoint` again by itself: a table dial backing off before
    /// its next attempt, or a manual peer waiting for its redial.
    func willRedial(_ endpoint: Endpoint, expected: PeerID?) -> Bool {
        if let expected {
            return tableDials.contains { $0.endpoint == endpoint && $0.id == expected && $0.retryAt != nil }
        }
        return manualPeers.contains { peer in
            guard peer.endpoint == endpoint, case .waiting = peer.state else { return false }
            return true
        }
    }

    /// A peer joined the pool.
    mutating func peerAdded(_ peer: PeerInfo, dialled: Endpoint?, now: Instant, table: inout RoutingTable) {
        guard peer.direction == .outbound, let dialled else {
            inboundPeers.insert(peer.id)
            return
        }
        let dialling = tableDials.firstIndex { $0.endpoint == dialled && !$0.isConnected && $0.retryAt == nil }
        if let index = dialling {
            consecutiveFailures = 0
            nextDialAt = nil
            tableDials[index].isConnected = true
            table.markConnected(tableDials[index].id, now: now)
        } else if let index = manualPeers.firstIndex(where: { $0.endpoint == dialled }),
            manualPeers[index].state == .dialling
        {
            manualPeers[index].state = .connected(since: now)
            manualPeers[index].peerID = peer.id
        }
    }

    /// A peer left the pool.
    mutating func peerRemoved(
        _ peer: PeerInfo, dialled: Endpoint?, now: Instant, table: inout RoutingTable, rng: inout SplitMix64
    ) {
        guard peer.direction == .outbound, let dialled else {
            inboundPeers.remove(peer.id)
            return
        }
        if let index = tableDials.firstIndex(where: { $0.endpoint == dialled && $0.isConnected }) {
            let id = tableDials.remove(at: index).id
            table.markDisconnected(id, now: now)
        } else if let index = manualPeers.firstIndex(where: { $0.endpoint == dialled }),
            case .connected(let since) = manualPeers[index].state
        {
            manualPeers[index].peerID = nil
            if now.duration(since: since) >= settings.redialBackoffMax { manualPeers[index].backoff.reset() }
            scheduleRedial(index, now: now, rng: &rng)
        }
    }

    /// Forgets everything (shutdown).
    mutating func stop() {
        tableDials = []
        manualPeers = []
        inboundPeers = []
        selfEndpoints = []
        spares = []
        coolDowns = [:]
        failedByRefusal = DeadlineQueue()
        consecutiveFailures = 0
        nextDialAt = nil
    }

    /// One more failed table dial: new dials wait the (grown) pacing gap (no pacing with a zero max).
    private mutating func paceAfterFailure(now: Instant, rng: inout SplitMix64) {
        guard settings.pacingMax > .zero else { return }
        consecutiveFailures += 1
        let until = now + pacingGap(rng: &rng)
        nextDialAt = max(nextDialAt ?? until, until)
    }

    private mutating func coolDown(_ id: PeerID, until: Instant) {
        if coolDowns[id] == nil, coolDowns.count >= Self.coolDownsMax,
            let soonest = coolDowns.min(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key
        {
            coolDowns.removeValue(forKey: soonest)
        }
        coolDowns[id] = until
    }

    private mutating func scheduleRedial(_ index: Int, now: Instant, rng: inout SplitMix64) {
        manualPeers[index].state = .waiting(until: now + manualPeers[index].backoff.nextDelay(using: &rng))
    }
}
