/// What the caller must do after feeding an event to a `PeerMachine`.
enum PeerAction: Hashable {
    /// Nothing.
    case none
    /// Hand this protocol message to the application (`NodeOutput.deliver`).
    case deliver(ProtocolID, [UInt8])
    /// Send this Ping-protocol payload to the peer.
    case send(PingPayload)
    /// Remove the peer: send Shutdown(`sending`) if given, close the connection.
    case close(PeerRemovalReason, sending: DisconnectReason?)
}

/// One established peer connection, as an I/O-free machine: dispatch of incoming frames by protocol
/// ID, the core PING protocol (`PingMachine`), and the outbound flow-control rules.
///
/// Incoming: PING frames go to the ping machine; frames of other negotiated protocols go to the
/// application; a frame of a protocol that was not negotiated, a malformed PING payload, or a
/// handshake message after the handshake is a protocol violation (close with `malformedMessage`);
/// Shutdown from the remote removes the peer with its reason.
///
/// Outgoing: the driver reports when its send queue for the connection is above its high watermark
/// (`sendQueueChanged`). If it stays there for `sendStallTimeout`, or if the bytes waiting for the
/// peer would exceed `sendQueueBytesMax` (`admitSend`), the peer is stalled and removed with
/// `.sendStalled`. The bytes waiting are estimated as the core's outbox plus everything queued while
/// the driver reports high (an overestimate by at most the outbox), which bounds memory per peer.
///
/// While the application has paused delivery (we stop reading the socket), keep-alive is suspended:
/// a pong could not be seen, so a miss would not be the peer's fault.
struct PeerMachine {
    /// Timing and limits (from `NodeConfiguration.Peers`).
    struct Settings: Hashable {
        var ping: PingMachine.Settings
        var sendStallTimeout: Duration
        var sendQueueBytesMax: Int

        init(_ peers: NodeConfiguration.Peers) {
            ping = PingMachine.Settings(peers)
            sendStallTimeout = peers.sendStallTimeout
            sendQueueBytesMax = peers.sendQueueBytesMax
        }
    }

    /// The peer as the application sees it.
    let info: PeerInfo
    private let settings: Settings
    private(set) var ping: PingMachine
    private(set) var isDeliveryPaused = false
    private(set) var isSendQueueHigh: Bool
    /// When a send queue that stays above the high watermark counts as stalled.
    private var stallDeadline: Instant?
    /// Bytes queued since the driver reported its send queue high.
    private(set) var bytesQueuedWhileHigh = 0

    /// A peer whose handshake completed at `now`; `isSendQueueHigh` is the driver's last report.
    init(info: PeerInfo, settings: Settings, now: Instant, isSendQueueHigh: Bool) {
        self.info = info
        self.settings = settings
        ping = PingMachine(settings: settings.ping, direction: info.direction, now: now)
        self.isSendQueueHigh = isSendQueueHigh
        if isSendQueueHigh { stallDeadline = now + settings.sendStallTimeout }
    }

    /// The peer's ID.
    var peerID: PeerID { info.id }

    /// True if the protocol was negotiated on this connection.
    func runs(_ protocolID: ProtocolID) -> Bool { info.protocols.contains(protocolID) }

    /// When `timeout(now:rng:)` is next due.
    var nextDeadline: Instant? {
        switch (ping.nextDeadline, stallDeadline) {
        case (let pingDeadline?, let stall?): return min(pingDeadline, stall)
        case (let pingDeadline?, nil): return pingDeadline
        case (nil, let stall?): return stall
        case (nil, nil): return nil
        }
    }

    /// A message from the peer.
    mutating func received(_ message: PeerMessage, now: Instant) -> PeerAction {
        switch message {
        case .protocol(let id, let payload) where id == .ping:
            let decoded: PingPayload
            do throws(WireError) {
                decoded = try PingPayload(parsing: payload)
            } catch {
                return .close(.protocolViolation("malformed PING payload: \(error)"), sending: .malformedMessage)
            }
            return received(ping: decoded, now: now)
        case .protocol(let id, let payload):
            guard runs(id) else {
                return .close(.protocolViolation("protocol \(id) was not negotiated"), sending: .malformedMessage)
            }
            ping.heard(now: now)
            return .deliver(id, payload)
        case .shutdown(let reason):
            return .close(.remoteShutdown(reason), sending: nil)
        case .version, .verack:
            return .close(.protocolViolation("\(message.kind) after the handshake"), sending: .malformedMessage)
        }
    }

    /// A Ping-protocol payload from the peer (decoded from a Protocol frame for `ProtocolID.ping`).
    mutating func received(ping payload: PingPayload, now: Instant) -> PeerAction {
        action(for: ping.received(payload, now: now))
    }

    /// The connection's deadline passed: stall check, then keep-alive. Spurious calls are harmless.
    mutating func timeout(now: Instant, rng: inout SplitMix64) -> PeerAction {
        if let stallDeadline, now >= stallDeadline { return .close(.sendStalled, sending: nil) }
        return action(for: ping.timeout(now: now, rng: &rng))
    }

    /// The driver's send queue crossed its high (or back below its low) watermark.
    mutating func sendQueueChanged(isHigh: Bool, now: Instant) {
        defer { isSendQueueHigh = isHigh }
        guard isHigh else {
            stallDeadline = nil
            bytesQueuedWhileHigh = 0
            return
        }
        if !isSendQueueHigh {
            stallDeadline = now + settings.sendStallTimeout
            bytesQueuedWhileHigh = 0
        }
    }

    /// The application paused (or resumed) delivery of this peer's messages.
    mutating func pauseDelivery(_ paused: Bool, now: Instant) {
        guard paused != isDeliveryPaused else { return }
        isDeliveryPaused = paused
        if paused { ping.suspend() } else { ping.resume(now: now) }
    }

    /// Decides whether `frameBytes` more may be queued for the peer, `outboxBytes` being what the core
    /// holds for it now. False means the peer is stalled: queue nothing, remove it.
    mutating func admitSend(frameBytes: Int, outboxBytes: Int) -> Bool {
        let waiting = outboxBytes + (isSendQueueHigh ? bytesQueuedWhileHigh : 0)
        guard waiting + frameBytes <= settings.sendQueueBytesMax else { return false }
        if isSendQueueHigh { bytesQueuedWhileHigh += frameBytes }
        return true
    }

    private func action(for ping: PingAction) -> PeerAction {
        switch ping {
        case .none: return .none
        case .send(let payload): return .send(payload)
        case .unresponsive: return .close(.pingTimeout, sending: .timeout)
        }
    }
}
