// The established-peer half of PeerCore: carrying out PeerMachine actions, application commands,
// sending with flow control, and removing peers.

extension PeerCore {
    /// Carries out what an established peer's machine asked for, then moves its deadline.
    mutating func apply(_ action: PeerAction, on id: ConnectionID, _ cx: inout CoreContext) {
        switch action {
        case .none:
            break
        case .deliver(let protocolID, let payload):
            guard let peer = links.peerID(on: id) else { return }
            cx.emit(.deliver(from: peer, protocolID: protocolID, payload: payload))
        case .send(let ping):
            // Encoded straight into the outbox: no payload array, no scratch buffer to touch.
            if admit(frameLength: PingPayload.frameSize - WireLimits.lengthPrefixSize, .ping, on: id, &cx) != nil {
                cx.send(ping: ping, on: id)
            }
        case .close(let reason, let sending):
            if case .protocolViolation = reason { cx.statistics.protocolViolations += 1 }
            removePeer(id, reason, sending: sending, &cx)
        }
        reschedule(id, &cx)
    }

    /// `.send`, `.broadcast`, `.disconnect`, `.pauseDelivery` from the application.
    mutating func command(_ command: NodeCommand, _ cx: inout CoreContext) {
        switch command {
        case .send(let peer, let protocolID, let payload):
            sendFromApplication(payload, protocolID: protocolID, to: peer, &cx)
        case .broadcast(let protocolID, let payload):
            guard protocolID != .ping else { return }
            for id in links.ids where runs(protocolID, on: id) {
                send(payload, protocolID: protocolID, on: id, &cx)
            }
        case .disconnect(let peer, let reason):
            guard let id = establishedConnection(of: peer) else { return }
            removePeer(id, .localShutdown(reason), sending: reason, &cx)
        case .pauseDelivery(let peer, let paused):
            guard let id = establishedConnection(of: peer) else { return }
            let now = cx.now
            links.modifyPeer(id) { $0.pauseDelivery(paused, now: now) }
            cx.pauseReading(id, paused)
            reschedule(id, &cx)
        case .start, .dial, .shutdown:
            preconditionFailure("BUG in Karyons: NodeCore handles \(command) itself")
        }
    }

    private mutating func sendFromApplication(
        _ payload: [UInt8],
        protocolID: ProtocolID,
        to peer: PeerID,
        _ cx: inout CoreContext
    ) {
        guard let id = pool.connection(of: peer), links.stage(of: id) == .established else {
            return dropSend(to: peer, protocolID, reason: "peer not connected", &cx)
        }
        guard protocolID != .ping else {
            return dropSend(to: peer, protocolID, reason: "PING belongs to the core", &cx)
        }
        guard runs(protocolID, on: id) else {
            return dropSend(to: peer, protocolID, reason: "protocol not negotiated with this peer", &cx)
        }
        send(payload, protocolID: protocolID, on: id, &cx)
    }

    /// Queues one Protocol frame for an established peer, unless it is too large for a frame (dropped)
    /// or the peer's queue is full (the peer is stalled: removed with `.sendStalled`).
    private mutating func send(_ payload: [UInt8], protocolID: ProtocolID, on id: ConnectionID, _ cx: inout CoreContext)
    {
        guard let peer = admit(frameLength: 1 + protocolID.encodedSize + payload.count, protocolID, on: id, &cx) else {
            return
        }
        do throws(WireError) {
            try cx.send(.protocol(id: protocolID, payload: payload), on: id)
        } catch {
            dropSend(to: peer, protocolID, reason: "\(error)", &cx)
        }
    }

    /// Decides whether a Protocol frame of `frameLength` bytes (kind and body) may be queued for the
    /// established peer on `id`; returns the peer if so. Too large for a frame: dropped. The peer's
    /// queue full: the peer is stalled and removed with `.sendStalled`.
    private mutating func admit(
        frameLength: Int, _ protocolID: ProtocolID, on id: ConnectionID, _ cx: inout CoreContext
    ) -> PeerID? {
        // Only the count is read: holding a copy of the connection would make the append that
        // follows copy the whole outbox.
        guard let outboxBytes = cx.connections.summary(of: id)?.outboxBytes, let peer = links.peerID(on: id) else {
            return nil
        }
        guard frameLength <= cx.configuration.frameSizeMax else {
            dropSend(to: peer, protocolID, reason: "payload too large for a frame", &cx)
            return nil
        }
        let frameBytes = WireLimits.lengthPrefixSize + frameLength
        guard links.modifyPeer(id, { $0.admitSend(frameBytes: frameBytes, outboxBytes: outboxBytes) }) == true else {
            dropSend(to: peer, protocolID, reason: "send queue full", &cx)
            removePeer(id, .sendStalled, sending: nil, &cx)
            return nil
        }
        return peer
    }

    private func dropSend(to peer: PeerID, _ protocolID: ProtocolID, reason: String, _ cx: inout CoreContext) {
        cx.statistics.sendsDropped += 1
        cx.emit(.sendDropped(to: peer, protocolID, reason: reason))
    }

    /// Takes an established peer out of the pool and closes its connection (sending Shutdown(`sending`)
    /// if given; a no-op on a connection that is already dead).
    mutating func removePeer(
        _ id: ConnectionID,
        _ reason: PeerRemovalReason,
        sending: DisconnectReason?,
        _ cx: inout CoreContext
    ) {
        guard let link = links.remove(id) else { return }
        guard let peer = link.peer else {
            preconditionFailure("BUG in Karyons: removing peer connection \(id), which is not established")
        }
        pool.release(id)
        cx.close(id, sending: sending)
        announceRemoval(of: peer.info, dialled: link.dialled, reason, &cx)
    }

    /// Tells the monitor, the application and (unless stopped) discovery that a peer left.
    func announceRemoval(of info: PeerInfo, dialled: Endpoint?, _ reason: PeerRemovalReason, _ cx: inout CoreContext) {
        cx.emit(.peerRemoved(info.id, reason))
        cx.emit(.peerDisconnected(info.id, reason: reason))
        if !isStopped { cx.signal(.peerRemoved(info, dialled: dialled)) }
    }

    /// Moves the connection's deadline to its peer machine's next one (if it changed).
    func reschedule(_ id: ConnectionID, _ cx: inout CoreContext) {
        guard let link = links.facts(of: id), link.stage == .established else { return }
        let deadline = link.deadline
        if cx.deadlines.deadline(of: .connection(id)) != deadline { cx.schedule(id, at: deadline) }
    }

    /// Whether the peer established on `id` negotiated `protocolID` (read in place).
    private mutating func runs(_ protocolID: ProtocolID, on id: ConnectionID) -> Bool {
        links.modifyPeer(id) { $0.runs(protocolID) } ?? false
    }
}
