extension PeerCore {
    /// Consistency problems for the simulator's safety checks (empty when all is well): slot counts
    /// within limits, a live connection behind every link, no link or pool entry for a dead ID, every
    /// pool member on an established link and every established link in the pool, a deadline for
    /// every handshake, and no peer connection the peer half does not know.
    ///
    /// The simulator runs this after every event, so a sound state costs no allocation and no
    /// hashing: links, pool slots, connections and deadlines are all indexed by connection slot.
    ///
    /// `poolKnownSound`: the pool and the number of links are as they were when this check last
    /// passed (`PeerPool.version`), so the pool's own bookkeeping needs no second look.
    func checkInvariants(_ cx: CoreContext, poolKnownSound: Bool = false) -> [String] {
        var core = self
        var cx = cx
        return core.checkInvariantsInPlace(&cx, poolKnownSound: poolKnownSound)
    }

    /// `checkInvariants` for NodeCore's check after every simulated event, read in place (a
    /// non-mutating call on the stored value copies it and the context first). Changes nothing.
    mutating func checkInvariantsInPlace(_ cx: inout CoreContext, poolKnownSound: Bool = false) -> [String] {
        var problems: [String] = []
        links.forEachFacts { link in linkProblems(link, cx.connections, cx.deadlines, into: &problems) }
        if !poolKnownSound { pool.checkInvariants(heldBy: links.count, into: &problems) }
        var peerConnections = 0
        cx.connections.forEachSummary { connection in
            if connection.plane == .peer && !connection.isClosing { peerConnections += 1 }
        }
        // Every link names a distinct live peer connection (checked per link), so equal counts
        // mean no live peer connection lacks a link.
        if peerConnections != links.count {
            cx.connections.forEach { id, connection in
                if connection.plane == .peer && !connection.isClosing && links[id] == nil {
                    problems.append("peers: connection \(id) to \(connection.remote) has no peer link")
                }
            }
        }
        if isStopped && links.count > 0 {
            problems.append("peers: \(links.count) connections left after shutdown")
        }
        return problems
    }

    private func linkProblems(
        _ link: PeerLink.Facts, _ connections: SummarizedSlotTable<Connection>, _ deadlines: DeadlineQueue<CoreTimer>,
        into problems: inout [String]
    ) {
        let id = link.id
        guard let connection = connections.summary(of: id), !connection.isClosing else {
            problems.append("peers: link \(id) names a dead connection")
            return
        }
        if connection.plane != .peer || connection.direction != link.direction {
            problems.append(
                "peers: link \(id) disagrees with its connection (\(connection.plane), \(connection.direction))"
            )
        }
        if !pool.holdsSlot(id) { problems.append("peers: link \(id) holds no pool slot") }
        switch link.stage {
        case .connecting:
            if connection.isEstablished { problems.append("peers: link \(id) still connecting on an open connection") }
            if pool.peer(on: id) != nil { problems.append("peers: dial \(id) carries a pool member") }
        case .handshaking:
            if link.deadline == nil || deadlines.deadline(of: .connection(id)) == nil {
                problems.append("peers: handshake \(id) has no deadline")
            }
            if (pool.peer(on: id) != nil) != link.isAwaitingConfirmation {
                problems.append("peers: handshake \(id) pool membership disagrees with its stage")
            }
        case .established:
            // The pool's members and the slots carrying a peer correspond one to one, apart from
            // successors, which are never established (`PeerPool.checkInvariants`), so the slot
            // carrying this peer means the pool's connection of this peer is this one.
            if let peerID = link.peerID, pool.peer(on: id) != peerID {
                problems.append("peers: established \(peerID.shortDescription) on \(id) is not its pool connection")
            }
            if deadlines.deadline(of: .connection(id)) != link.deadline {
                problems.append("peers: peer \(id) deadline differs from its machine's")
            }
        }
        if !link.isMachineConsistent { problems.append("peers: link \(id) holds a machine its stage \(link.stage) does not") }
    }
}
