// What DiscoveryCore does after every event: fill outbound slots, plan seeding, move timers; and
// its invariants.

extension DiscoveryCore {
    /// Lets the dialer take free slots, plans seeding when it is starved, and moves the timers to
    /// the machines' deadlines.
    mutating func afterEvent(_ cx: inout CoreContext) {
        guard isRunning else { return }
        dialerActions.removeAll(keepingCapacity: true)
        let fill = dialer.fill(table: table, now: cx.now, rng: &rng, actions: &dialerActions)
        switch fill {
        case .full:
            seeding.satisfied()
        case .starved:
            if let delay = seeding.starved(now: cx.now, rng: &rng) { cx.emit(.seedingBackoff(delay)) }
        case .paced:
            break  // Waiting to dial what we know is not being short of peers.
        }
        signalDials(&cx)
        syncTimer(.seeding, to: seeding.deadline, &cx)
        syncTimer(.refresh, to: refresh.deadline, &cx)
        syncTimer(.dialer, to: dialer.deadline, &cx)
    }

    /// Hands the dialer's dial requests to the peer half.
    mutating func signalDials(_ cx: inout CoreContext) {
        for action in dialerActions {
            switch action {
            case .dial(let endpoint, let expected):
                cx.statistics.dialsStarted += 1
                cx.signal(.dial(endpoint, expected: expected))
            }
        }
        dialerActions.removeAll(keepingCapacity: true)
    }

    /// Carries out what the refresh machine asked for.
    mutating func applyRefreshActions(_ cx: inout CoreContext) {
        for action in refreshActions {
            switch action {
            case .send(let datagram, let endpoint): cx.sendDatagram(datagram, to: endpoint)
            case .event(let event): cx.emit(event)
            case .drop(let source, let reason):
                cx.statistics.datagramsDropped += 1
                cx.emit(.datagramDropped(from: source, reason: reason))
            }
        }
        refreshActions.removeAll(keepingCapacity: true)
    }

    private func syncTimer(_ timer: DiscoveryTimer, to deadline: Instant?, _ cx: inout CoreContext) {
        let key = CoreTimer.discovery(timer)
        guard cx.deadlines.deadline(of: key) != deadline else { return }
        if let deadline { cx.deadlines.schedule(key, at: deadline) } else { cx.deadlines.cancel(key) }
    }

    // MARK: Invariants

    /// Consistency problems for the simulator's safety checks (empty when all is well): slot counts
    /// within their limits, and no discovery state for a connection the node no longer holds.
    /// Allocates nothing when all is well (problems are described only once found).
    func checkInvariants(_ cx: CoreContext) -> [String] {
        var discovery = self
        var cx = cx
        return discovery.checkInvariantsInPlace(&cx)
    }

    /// `checkInvariants` for NodeCore's check after every simulated event: a non-mutating call on
    /// this 1.4 KB value stored in the node copies it (and the context) first. Changes nothing.
    mutating func checkInvariantsInPlace(_ cx: inout CoreContext) -> [String] {
        var problems: [String] = []
        let slots = configuration.slots
        if responders.count > slots.lookupInbound {
            problems.append("\(responders.count) lookup responders, limit \(slots.lookupInbound)")
        }
        if activeExchanges > slots.lookupOutbound {
            problems.append("\(activeExchanges) lookup exchanges in flight, limit \(slots.lookupOutbound)")
        }
        if dialer.usedSlots > dialer.settings.slotsMax {
            problems.append("\(dialer.usedSlots) outbound dials or peers, limit \(dialer.settings.slotsMax)")
        }
        if responders.keys.contains(where: { !isLive($0, cx.connections, direction: .inbound) }) {
            // Reported in connection order (a Dictionary's order differs between runs).
            for id in responders.keys.sorted() where !isLive(id, cx.connections, direction: .inbound) {
                problems.append(connectionProblem(id, cx.connections, owner: "responder"))
            }
        }
        let exchangeConnections = checkExchanges(cx.connections, into: &problems)
        var lookupConnections = 0
        cx.connections.forEachSummary { connection in
            if connection.plane == .lookup && !connection.isClosing { lookupConnections += 1 }
        }
        // Every owner's connection is a live lookup connection (inbound for responders, outbound for
        // exchanges, each exchange's indexed by it: all distinct), so equal counts mean every such
        // connection has an owner.
        if lookupConnections != responders.count + exchangeConnections {
            cx.connections.forEach { id, connection in
                guard connection.plane == .lookup, !connection.isClosing else { return }
                if responders[id] == nil && exchangeByConnection[id] == nil {
                    problems.append("lookup connection \(id) has no owner")
                }
            }
        }
        if !isRunning && (!responders.isEmpty || exchanges.count > 0 || sessions.count > 0 || dialer.usedSlots > 0) {
            problems.append("discovery state left after shutdown")
        }
        return problems
    }

    /// Checks the exchanges; returns how many hold a connection.
    private func checkExchanges(_ connections: SummarizedSlotTable<Connection>, into problems: inout [String]) -> Int {
        var started = 0
        var connected = 0
        exchanges.forEachHandle { handle in
            // The summary the table keeps beside each exchange (reaching into the exchange itself
            // would copy its requester's buffers).
            guard let summary = exchanges.summary(of: handle) else { return }
            let (isStarted, session, connection) = (summary.isStarted, summary.session, summary.connection)
            if isStarted { started += 1 }
            if !sessions.contains(session) { problems.append("exchange \(handle) outlived its session") }
            guard let connection else { return }
            connected += 1
            if exchangeByConnection[connection] != handle {
                problems.append("exchange \(handle) not indexed by \(connection)")
            }
            if !isLive(connection, connections, direction: .outbound) {
                problems.append(connectionProblem(connection, connections, owner: "exchange \(handle)"))
            }
        }
        if started != activeExchanges {
            problems.append("\(activeExchanges) lookup slots held, \(started) exchanges started")
        }
        if exchangeByConnection.count > exchanges.count { problems.append("stale exchange connections") }
        return connected
    }

    /// True when `id` is a live (not closing) lookup connection in `direction`.
    private func isLive(_ id: ConnectionID, _ connections: SummarizedSlotTable<Connection>, direction: Direction) -> Bool {
        guard let connection = connections.summary(of: id) else { return false }
        return !connection.isClosing && connection.plane == .lookup && connection.direction == direction
    }

    /// What is wrong with a connection `isLive` rejected.
    private func connectionProblem(_ id: ConnectionID, _ connections: SummarizedSlotTable<Connection>, owner: String) -> String {
        guard let connection = connections.summary(of: id), !connection.isClosing else {
            return "\(owner) holds dead connection \(id)"
        }
        return "\(owner) holds \(connection.direction) \(connection.plane) connection \(id)"
    }
}
