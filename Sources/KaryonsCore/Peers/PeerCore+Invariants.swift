extension PeerCore {
    /// Consistency problems for the simulator's safety checks (empty when all is well): slot counts
    /// within limits, a live connection behind every link, no link or pool entry for a dead ID, every
    /// pool member on an established link and every established link in the pool, a deadline for
    /// every handshake, and no peer connection the peer half does not know.
    func checkInvariants(_ cx: CoreContext) -> [String] {
        var problems: [String] = []
        var live = Set<ConnectionID>()
        links.forEach { link in
            live.insert(link.id)
            problems += linkProblems(link, cx)
        }
        problems += pool.checkInvariants(live: live)
        cx.connections.forEach { id, connection in
            if connection.plane == .peer && !connection.isClosing && links[id] == nil {
                problems.append("peers: connection \(id) to \(connection.remote) has no peer link")
            }
        }
        if isStopped && links.count > 0 {
            problems.append("peers: \(links.count) connections left after shutdown")
        }
        return problems
    }

    private func linkProblems(_ link: PeerLink, _ cx: CoreContext) -> [String] {
        let id = link.id
        guard let connection = cx.connections[id], !connection.isClosing else {
            return ["peers: link \(id) names a dead connection"]
        }
        var problems: [String] = []
        if connection.plane != .peer || connection.direction != link.direction {
            problems.append(
                "peers: link \(id) disagrees with its connection (\(connection.plane), \(connection.direction))"
            )
        }
        switch link.stage {
        case .connecting:
            if connection.isEstablished { problems.append("peers: link \(id) still connecting on an open connection") }
            if pool.peer(on: id) != nil { problems.append("peers: dial \(id) carries a pool member") }
        case .handshaking(let machine):
            if cx.deadlines.deadline(of: .connection(id)) == nil || machine.deadline == nil {
                problems.append("peers: handshake \(id) has no deadline")
            }
            if (pool.peer(on: id) != nil) != machine.isAwaitingConfirmation {
                problems.append("peers: handshake \(id) pool membership disagrees with its stage")
            }
        case .established(let peer):
            if pool.connection(of: peer.peerID) != id {
                problems.append(
                    "peers: established \(peer.peerID.shortDescription) on \(id) is not its pool connection"
                )
            }
            if cx.deadlines.deadline(of: .connection(id)) != peer.nextDeadline {
                problems.append("peers: peer \(id) deadline differs from its machine's")
            }
        case .modifying:
            problems.append("peers: link \(id) left in the modifying placeholder")
        }
        return problems
    }
}
