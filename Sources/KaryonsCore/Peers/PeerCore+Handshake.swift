// The handshake half of PeerCore: carrying out HandshakeMachine actions, admission to the pool,
// and the end of a handshake either way.

extension PeerCore {
    /// Carries out what a handshake machine asked for.
    mutating func apply(_ action: HandshakeAction, on id: ConnectionID, _ cx: inout CoreContext) {
        switch action {
        case .wait:
            break
        case .send(let message):
            do throws(WireError) {
                try cx.send(message, on: id)
            } catch {
                failHandshake(id, .unencodable(error), sending: nil, &cx)
            }
        case .completed(let result):
            complete(id, result, &cx)
        case .confirmed(let result):
            guard let link = links[id] else { return }
            establish(link, result, &cx)
        case .fail(let failure, let message):
            failHandshake(id, failure, sending: message, &cx)
        }
    }

    /// The handshake passed this side's checks: admit the peer unless the pool keeps another
    /// connection to it, closing the older connection if the tie-break keeps this one, and send our
    /// accepting Verack. The dialler's peer is established at once; the listener's on confirmation,
    /// which is also when a listener's connection that the tie-break keeps replaces the older one.
    private mutating func complete(_ id: ConnectionID, _ result: HandshakeResult, _ cx: inout CoreContext) {
        guard let link = links[id], let machine = link.handshake else {
            preconditionFailure("BUG in Karyons: handshake of \(id) completed outside the handshaking stage")
        }
        switch pool.join(result.peerID, on: id) {
        case .duplicate:
            failHandshake(id, .duplicatePeer, sending: machine.refusal(.duplicatePeer), &cx)
            return
        case .joinedReplacing(let older):
            closeReplaced(older, &cx)
        case .successor:
            // The older connection serves the peer until the dialler confirms this one (`establish`):
            // if it never does, the older one stays.
            break
        case .joined:
            break
        }
        guard let acceptance = links.modifyHandshake(id, { $0.accept(result) }) else { return }
        do throws(WireError) {
            try cx.send(acceptance, on: id)
        } catch {
            failHandshake(id, .unencodable(error), sending: nil, &cx)
            return
        }
        if link.direction == .outbound { establish(link, result, &cx) }
    }

    /// Closes the connection the tie-break replaced (`duplicatePeer`).
    private mutating func closeReplaced(_ older: ConnectionID, _ cx: inout CoreContext) {
        if links.stage(of: older) == .established {
            removePeer(older, .localShutdown(.duplicatePeer), sending: .duplicatePeer, &cx)
        } else {
            // A listener's handshake that still waits for its confirmation: it never became a peer.
            failHandshake(older, .duplicatePeer, sending: .shutdown(.duplicatePeer), &cx)
        }
    }

    private mutating func establish(_ link: PeerLink, _ result: HandshakeResult, _ cx: inout CoreContext) {
        if let older = pool.confirm(link.id) { closeReplaced(older, &cx) }
        let info = PeerInfo(
            id: result.peerID,
            direction: link.direction,
            endpoint: link.remote,
            protocols: result.protocols
        )
        let isSendQueueHigh = cx.connections.summary(of: link.id)?.isSendQueueHigh ?? false
        let peer = PeerMachine(info: info, settings: peerSettings, now: cx.now, isSendQueueHigh: isSendQueueHigh)
        links.modify(link.id) { $0.establish(peer) }
        cx.schedule(link.id, at: peer.nextDeadline)
        cx.emit(.peerAdded(info))
        cx.emit(.peerConnected(info))
        cx.signal(.peerAdded(info, dialled: link.dialled))
    }

    /// Ends a handshake that produced no peer: tells the remote why (if `message`), closes, frees the
    /// slot, and tells discovery the dial failed (outbound).
    mutating func failHandshake(
        _ id: ConnectionID,
        _ failure: HandshakeFailure,
        sending message: PeerMessage?,
        _ cx: inout CoreContext
    ) {
        guard let link = links.remove(id) else { return }
        pool.release(id)
        switch failure {
        case .unexpectedMessage, .unofferedProtocol:
            // Undecodable frames were counted by NodeCore already.
            cx.statistics.protocolViolations += 1
        case .incompatibleVersion, .mandatoryProtocolMissing, .selfConnection, .duplicatePeer, .unexpectedPeer,
            .malformed, .unencodable, .timeout, .refusedByRemote, .connectionLost:
            break
        }
        if case .connectionLost = failure {
            // Not a refusal by anyone: NodeCore already reported the disconnection.
        } else {
            cx.emit(.handshakeFailed(link.remote, failure.reason, byRemote: failure.isByRemote))
        }
        if let message { try? cx.send(message, on: id) }  // A Verack rejection or Shutdown always encodes.
        cx.close(id, sending: nil)
        if link.direction == .outbound && !isStopped {
            cx.signal(.dialFailed(link.remote, expected: link.expected, reason: DialFailure(failure)))
        }
    }
}
