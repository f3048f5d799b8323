// The lookup plane inside DiscoveryCore: sessions, exchanges and their slots, responders, and
// learning peers into the routing table.

extension DiscoveryCore {
    // MARK: Seeding passes and sessions

    /// Sessions a pass through table entries may start after a failed one.
    static let entryFallbacksMax = 2

    /// Runs one seeding pass: a session through a random shareable entry (another one, up to
    /// `entryFallbacksMax` times, when it fails), or through the bootstrap endpoints in random
    /// order, one at a time: the next only if the session through the previous failed (every
    /// joining node asking every seed at once is what overloads seeds).
    mutating func runSeedingPass(_ cx: inout CoreContext) {
        var plan = Seeding.plan(
            table: table, bootstrap: configuration.bootstrapPeers, ownLookupEndpoint: boundLookupEndpoint,
            throughBootstrap: seeding.isBootstrapDue(now: cx.now), rng: &rng)
        if plan.contains(where: { $0.responderID == nil }) { seeding.bootstrapPassBegan(now: cx.now) }
        bootstrapFallbacks = plan.count > 1 ? Array(plan.dropFirst().map(\.endpoint)) : []
        entryFallbacksLeft = Self.entryFallbacksMax
        plan.removeLast(max(0, plan.count - 1))
        _ = seeding.passPlanned(sessions: plan.count)  // Nothing to seed through ends the pass at once.
        for (endpoint, responderID) in plan { startSession(through: endpoint, responderID: responderID, &cx) }
    }

    private mutating func startSession(through endpoint: Endpoint, responderID: PeerID?, _ cx: inout CoreContext) {
        var session = LookupSession(
            endpoint: endpoint, responderID: responderID, limits: LookupSession.Limits(configuration.discovery))
        let step = session.begin(randomLookups: configuration.discovery.randomLookups, rng: &rng)
        let handle = sessions.insert(session)
        cx.emit(.lookupStarted(endpoint))
        apply(step, session: handle, &cx)
    }

    private mutating func apply(_ step: SessionStep, session handle: SlotHandle, _ cx: inout CoreContext) {
        switch step {
        case .wait:
            return
        case .start(let requests):
            for request in requests { enqueueExchange(request, session: handle) }
            startQueuedExchanges(&cx)
            return
        case .succeeded(let learned):
            guard let session = sessions.remove(handle) else { return }
            bootstrapFallbacks = []
            cx.statistics.lookupsSucceeded += 1
            cx.statistics.lookupHops += session.hops
            cx.emit(.lookupSucceeded(session.endpoint, learned: learned))
        case .failed(let failure):
            guard let session = sessions.remove(handle) else { return }
            cx.emit(.lookupFailed(session.endpoint, reason: "\(failure)"))
            // A responder out of lookup slots is alive: only other failures count against it.
            if let responderID = session.responderID, failure != .remoteShutdown(.noFreeSlot) {
                table.markFailed(responderID, now: cx.now)
            }
            if !bootstrapFallbacks.isEmpty {
                // The pass goes on through the next bootstrap endpoint (still one session).
                startSession(through: bootstrapFallbacks.removeFirst(), responderID: nil, &cx)
                return
            }
            if session.responderID != nil, entryFallbacksLeft > 0,
                let entry = table.randomEntry(matching: .shareable, using: &rng)
            {
                // The entry is gone or busy: the pass goes on through another one (it was marked
                // failed unless busy, so it is not drawn again at once).
                entryFallbacksLeft -= 1
                startSession(through: .tcp(entry.address, entry.discoveryPort), responderID: entry.id, &cx)
                return
            }
        }
        _ = seeding.sessionEnded()
    }

    // MARK: Exchanges

    private mutating func enqueueExchange(_ request: ExchangeRequest, session: SlotHandle) {
        let requester = LookupRequester(
            settings: requesterSettings, localID: localID, target: request.target, remote: request.remote,
            responderID: request.responderID, nonce: .random(using: &rng))
        let exchange = Exchange(requester: requester, kind: request.kind, session: session, connection: nil)
        let handle = exchanges.insert(exchange)
        exchangeQueue.append(handle)
    }

    /// Gives free lookup slots to queued exchanges, oldest first.
    private mutating func startQueuedExchanges(_ cx: inout CoreContext) {
        while activeExchanges < configuration.slots.lookupOutbound, exchangeQueueHead < exchangeQueue.count {
            let handle = exchangeQueue[exchangeQueueHead]
            exchangeQueueHead += 1
            guard exchanges.contains(handle) else { continue }
            activeExchanges += 1
            perform(handle, &cx) { requester, now, _ in requester.start(now: now) }
        }
        if exchangeQueueHead == exchangeQueue.count {
            exchangeQueue.removeAll(keepingCapacity: true)
            exchangeQueueHead = 0
        }
    }

    /// Runs one event of an exchange's requester and carries out the action it returns.
    mutating func perform(
        _ handle: SlotHandle, _ cx: inout CoreContext,
        _ event: (inout LookupRequester, Instant, inout SplitMix64) -> RequesterAction
    ) {
        guard var exchange = exchanges[handle] else { return }
        let action = event(&exchange.requester, cx.now, &rng)
        switch action {
        case .wait:
            break
        case .connect(let endpoint, let timeout):
            if let previous = exchange.connection {
                exchangeByConnection[previous] = nil
                cx.close(previous, sending: nil)
            }
            let id = cx.connect(.lookup, to: endpoint, timeout: timeout)
            exchange.connection = id
            exchangeByConnection[id] = handle
        case .send(let message):
            if let connection = exchange.connection { cx.send(message, on: connection) }
        case .succeed(let peers):
            if let connection = exchange.connection {
                if let record = selfRecord { cx.send(.peer(record), on: connection) }
                closeExchangeConnection(connection, sending: DisconnectReason.none, &cx)
            }
            cx.deadlines.cancel(.discovery(.exchange(handle)))
            exchanges.remove(handle)
            exchangeSucceeded(exchange, peers: peers, &cx)
            return
        case .fail(let failure, let reason):
            if let connection = exchange.connection { closeExchangeConnection(connection, sending: reason, &cx) }
            if failure.isProtocolViolation { cx.statistics.protocolViolations += 1 }
            cx.deadlines.cancel(.discovery(.exchange(handle)))
            exchanges.remove(handle)
            exchangeFailed(exchange, failure, &cx)
            return
        }
        if case .waitingToReconnect = exchange.requester.state, let previous = exchange.connection {
            // An abandoned connect: close it before the next attempt (a later report is stale).
            exchange.connection = nil
            closeExchangeConnection(previous, sending: nil, &cx)
        }
        exchanges[handle] = exchange
        if let deadline = exchange.requester.deadline {
            cx.deadlines.schedule(.discovery(.exchange(handle)), at: deadline)
        } else {
            cx.deadlines.cancel(.discovery(.exchange(handle)))
        }
    }

    private mutating func closeExchangeConnection(
        _ id: ConnectionID, sending reason: DisconnectReason?, _ cx: inout CoreContext
    ) {
        exchangeByConnection[id] = nil
        cx.close(id, sending: reason)
    }

    private mutating func exchangeSucceeded(_ exchange: Exchange, peers: [PeerRecord], _ cx: inout CoreContext) {
        activeExchanges -= 1
        for peer in peers { learn(peer, &cx) }
        if let responderID = exchange.requester.responderID { verify(responderID, &cx) }
        let step = sessions.modify(exchange.session) { session in
            session.exchangeSucceeded(
                exchange.kind, from: exchange.requester.responderID, peers: peers, localID: localID)
        }
        if let step { apply(step, session: exchange.session, &cx) }
        startQueuedExchanges(&cx)
    }

    private mutating func exchangeFailed(_ exchange: Exchange, _ failure: LookupFailure, _ cx: inout CoreContext) {
        activeExchanges -= 1
        let step = sessions.modify(exchange.session) { session in
            session.exchangeFailed(exchange.kind, failure, localID: localID)
        }
        if let step { apply(step, session: exchange.session, &cx) }
        startQueuedExchanges(&cx)
    }

    // MARK: Responders

    mutating func respond(to message: LookupMessage, on id: ConnectionID, _ cx: inout CoreContext) {
        // In place: a copy of the responder out of the dictionary would retain its buffers.
        guard var action = responders[id]?.received(message, table: table) else { return }
        if case .reply(.peers(let records)) = action, case .findPeer(let target) = message {
            let limit = min(max(0, configuration.discovery.peersPerReplyMax), WireLimits.peersCountMax)
            let table = self.table
            action = .reply(.peers(introductions.mix(into: records, target: target, limit: limit) { record in
                guard let status = table.entry(for: record.id)?.status else { return false }
                return status == .unverified || status == .failed
            }))
        }
        apply(action, responder: id, &cx)
    }

    mutating func apply(_ action: ResponderAction, responder id: ConnectionID, _ cx: inout CoreContext) {
        switch action {
        case .wait: break
        case .reply(let message): cx.send(message, on: id)
        case .learn(let record):
            introductions.remember(record)
            learn(record, &cx)
        case .close(let reason, let isViolation):
            responders[id] = nil
            if isViolation { cx.statistics.protocolViolations += 1 }
            cx.close(id, sending: reason)
        }
    }

    // MARK: The routing table

    /// Offers a peer someone told us about to the table, unverified, and queues it for a
    /// verification ping.
    mutating func learn(_ record: PeerRecord, _ cx: inout CoreContext) {
        switch table.add(record, status: .unverified, now: cx.now) {
        case .added:
            break
        case .replaced(let evicted):
            cx.emit(.entryEvicted(evicted.id))
        case .restricted(.bucket):
            guard replaceRefusedEntry(sharingSubnetWith: record, &cx) else {
                dialer.offerSpare(record)
                return
            }
        case .ignored(.bucketFull), .restricted(.table):
            dialer.offerSpare(record)
            return
        case .exists, .ignored(.ownKey):
            return
        }
        cx.emit(.entryAdded(record, .unverified))
        refresh.learned(record.id)
    }

    /// `record` is refused by the one-per-bucket subnet limit. If the entry holding its subnet's
    /// place in that bucket refused our dial for lack of a slot lately (it cools down in the
    /// dialer), it gives its place to `record`: a full node is of no use to the dialer, and with
    /// one entry per subnet and bucket it would otherwise keep every other node of its subnet out
    /// of the table. Returns true when `record` is in.
    private mutating func replaceRefusedEntry(sharingSubnetWith record: PeerRecord, _ cx: inout CoreContext) -> Bool {
        guard !record.address.isLoopback, let bucket = table.bucketIndex(of: record.id) else { return false }
        let subnet = record.address.diversitySubnet
        let victim = dialer.coolDowns.keys.sorted().first { id in
            guard let entry = table.entry(for: id), entry.status != .connected,
                !entry.record.address.isLoopback else { return false }
            return table.bucketIndex(of: id) == bucket && entry.record.address.diversitySubnet == subnet
        }
        guard let victim, let evicted = table.remove(victim) else { return false }
        guard table.add(record, status: .unverified, now: cx.now).isInserted else {
            // Another limit holds: put the old entry back as it was seen (it answered us lately).
            _ = table.add(evicted.record, status: .verified, now: evicted.lastSeen)
            return false
        }
        cx.emit(.entryEvicted(victim))
        return true
    }

    /// A table entry answered us directly.
    mutating func verify(_ id: PeerID, _ cx: inout CoreContext) {
        let before = table.entry(for: id)?.status
        guard table.markVerified(id, now: cx.now) else { return }
        if before == .unverified || before == .failed { cx.emit(.entryVerified(id)) }
    }
}

extension LookupFailure {
    /// True when the remote broke the lookup protocol (counted in `protocolViolations`; malformed
    /// frames are counted where they are decoded).
    var isProtocolViolation: Bool {
        switch self {
        case .nonceMismatch, .unexpected, .tooManyPeers: return true
        case .connectFailed, .timedOut, .remoteShutdown, .malformed, .connectionLost, .shuttingDown: return false
        }
    }
}
