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
                cx.signals.append(.dial(endpoint, expected: expected))
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
    func checkInvariants(_ cx: CoreContext) -> [String] {
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
        for id in responders.keys.sorted() {
            problems += connectionProblems(id, cx, direction: .inbound, owner: "responder")
        }
        var started = 0
        exchanges.forEach { handle, exchange in
            if exchange.requester.state != .idle { started += 1 }
            if sessions[exchange.session] == nil { problems.append("exchange \(handle) outlived its session") }
            guard let connection = exchange.connection else { return }
            if exchangeByConnection[connection] != handle {
                problems.append("exchange \(handle) not indexed by \(connection)")
            }
            problems += connectionProblems(connection, cx, direction: .outbound, owner: "exchange \(handle)")
        }
        if started != activeExchanges {
            problems.append("\(activeExchanges) lookup slots held, \(started) exchanges started")
        }
        if exchangeByConnection.count > exchanges.count { problems.append("stale exchange connections") }
        cx.connections.forEach { id, connection in
            guard connection.plane == .lookup, !connection.isClosing else { return }
            if responders[id] == nil && exchangeByConnection[id] == nil {
                problems.append("lookup connection \(id) has no owner")
            }
        }
        if !isRunning && (!responders.isEmpty || exchanges.count > 0 || sessions.count > 0 || dialer.usedSlots > 0) {
            problems.append("discovery state left after shutdown")
        }
        return problems
    }

    private func connectionProblems(
        _ id: ConnectionID, _ cx: CoreContext, direction: Direction, owner: String
    ) -> [String] {
        guard let connection = cx.connections[id], !connection.isClosing else {
            return ["\(owner) holds dead connection \(id)"]
        }
        if connection.plane != .lookup || connection.direction != direction {
            return ["\(owner) holds \(connection.direction) \(connection.plane) connection \(id)"]
        }
        return []
    }
}
