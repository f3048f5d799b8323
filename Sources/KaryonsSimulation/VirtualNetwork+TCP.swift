import KaryonsCore

// TCP: connect (SYN, SYN-ACK or RST, connect timeout), an ordered byte stream per direction with
// latency, FIN after the last byte, RST for bytes that reach a closed end and for crashed hosts.
//
// A connection has two ends, 0 (the initiator) and 1 (the acceptor), and two pipes: pipe k carries
// bytes toward end k. A pipe's buffer holds the bytes not yet handed to end k: the first `arrived`
// of them have arrived (waiting while the reader is paused), the rest are in flight. Segments never
// overtake each other: each arrives no earlier than the pipe's previous one.

/// A TCP listener: which host, which of the node's listeners.
struct TCPListener {
    var host: Int
    var kind: ListenerKind
}

/// Where a node's connection ID leads: the network connection and which end of it.
struct EndBinding {
    var coreGeneration: UInt32
    var connection: SlotHandle
    var end: UInt8
    var isBound: Bool

    static let unbound = EndBinding(coreGeneration: 0, connection: SlotHandle(slot: 0, generation: 0), end: 0, isBound: false)
}

/// The life of one end of a connection, as its node sees it.
enum EndState: UInt8 {
    /// The acceptor before the SYN reached its listener.
    case awaitingAccept
    /// The initiator before the SYN-ACK (or RST, or timeout).
    case connecting
    /// Established; bytes flow.
    case open
    /// The node closed it, or was told it is closed or failed: the end takes nothing more.
    case closed

    /// True while the node still expects events about this end.
    var isLive: Bool { self == .connecting || self == .open }
}

/// One end of a connection.
struct ConnectionEnd {
    var host: UInt32
    var coreID: ConnectionID
    var state: EndState
    /// The plane the end's node uses it for (the initiator's from `.connect`, the acceptor's from
    /// its listener), for the slot counts.
    var plane: Plane
    var isReadingPaused = false
    var isSendQueueHigh = false
}

/// The bytes travelling toward one end (the bytes themselves are in the network's `pipeBuffers`,
/// so that a connection is plain data, cheap to read and copy).
struct Pipe {
    /// Bytes in the buffer: before `head` delivered (kept until the buffer is compacted), then the
    /// `arrived` ones waiting for the reader, then those in flight.
    var length = 0
    var head = 0
    var arrived = 0
    /// The arrival time of the latest segment (or of the SYN-ACK): later segments arrive no earlier.
    var lastArrival = Instant.zero
    var finArrived = false

    /// Bytes sent toward the end and not yet delivered (in flight or waiting).
    var unread: Int { length - head }
}

/// A TCP connection between two hosts.
struct SimConnection {
    var ends: InlineArray<2, ConnectionEnd>
    var pipes: InlineArray<2, Pipe>
    /// The initiator's address and ephemeral port, as the acceptor sees it.
    let initiatorEndpoint: Endpoint
    /// The endpoint the initiator dialled.
    let acceptorEndpoint: Endpoint
    /// When the initiator's connect times out (its connect's `timeout` after the `.connect`).
    let connectDeadline: Instant
    var isResetSent = false

    var isDone: Bool { !ends[0].state.isLive && !ends[1].state.isLive }
}

/// The network's connections by handle.
typealias ConnectionTable = Slab<SimConnection>

extension Slab where Element == SimConnection {
    /// One end of a live connection.
    @inline(__always)
    func end(_ handle: SlotHandle, _ end: Int) -> ConnectionEnd? { read(handle) { $0.ends[end] } }
}

extension VirtualNetwork {
    // MARK: Bindings of connection IDs

    func binding(_ host: Int, _ id: ConnectionID) -> (connection: SlotHandle, end: Int)? {
        let slot = Int(id.slot)
        guard slot < endBindings[host].count else { return nil }
        let binding = endBindings[host][slot]
        guard binding.isBound, binding.coreGeneration == id.generation else { return nil }
        return (binding.connection, Int(binding.end))
    }

    func bind(_ host: Int, _ id: ConnectionID, to connection: SlotHandle, end: Int) {
        let slot = Int(id.slot)
        if slot >= endBindings[host].count {
            endBindings[host].append(contentsOf: repeatElement(.unbound, count: slot + 1 - endBindings[host].count))
        }
        if endBindings[host][slot].isBound {
            recordViolation("reused connection slot \(id.slot) while the network still carries it", host: host)
        }
        endBindings[host][slot] = EndBinding(coreGeneration: id.generation, connection: connection, end: UInt8(end), isBound: true)
    }

    func unbind(_ host: Int, _ id: ConnectionID) {
        let slot = Int(id.slot)
        guard slot < endBindings[host].count, endBindings[host][slot].coreGeneration == id.generation else { return }
        endBindings[host][slot].isBound = false
    }

    // MARK: Connect

    func connect(_ host: Int, _ id: ConnectionID, _ plane: Plane, to endpoint: Endpoint, timeout: Duration) {
        counters.connectsStarted += 1
        guard endpoint.transport == .tcp, case .v4(let target) = endpoint.address.unmapped else {
            enqueueInput(.connectFailed(id, .failed("ENETUNREACH")), for: host)
            return
        }
        if binding(host, id) != nil {
            recordViolation("connect on connection \(id), which is still open", host: host)
            return
        }
        let local = Endpoint.tcp(.v4(hosts[host].address), allocatePort(host, datagram: false))
        let destination = hostByAddress[target]
        let initiator = ConnectionEnd(host: UInt32(host), coreID: id, state: .connecting, plane: plane)
        let acceptor = ConnectionEnd(host: UInt32(destination ?? host), coreID: id, state: .awaitingAccept, plane: plane)
        let deadline = now + timeout
        let connection = connections.insert(SimConnection(
            ends: [initiator, acceptor], pipes: [Pipe(), Pipe()], initiatorEndpoint: local, acceptorEndpoint: endpoint,
            connectDeadline: deadline))
        bind(host, id, to: connection, end: 0)
        countOpened(host, plane, .outbound)
        // The timeout is scheduled only when the answer cannot beat it (here: nobody at that address,
        // every SYN lost, or the SYN arriving at the deadline or later; in `synArrived`: a late
        // SYN-ACK or RST). Most connects are answered in time, and an event that would only find the
        // connection open is not worth scheduling.
        guard let destination, let arrival = synArrival(from: host, to: destination, before: deadline), arrival < deadline else {
            schedule(.connectTimeout(connection), at: deadline)
            return
        }
        schedule(.synArrives(connection), at: arrival)
    }

    /// When the first SYN (or a retransmission, 1 s, 2 s, 4 s ... later) gets through, if before `deadline`.
    private func synArrival(from source: Int, to destination: Int, before deadline: Instant) -> Instant? {
        var attempt = now
        var timeout = configuration.link.synRetransmissionTimeout
        for _ in 0...configuration.link.retransmissionsMax {
            guard attempt < deadline else { return nil }
            if !links.isCut(source, destination, at: attempt) && !drawLoss() {
                return attempt + latency(source, destination)
            }
            attempt = attempt + timeout
            timeout = timeout * 2
        }
        return nil
    }

    func synArrived(_ connection: SlotHandle) {
        guard let current = connections.read(connection, {
            ($0.ends[0], $0.ends[1].host, $0.acceptorEndpoint.port, $0.initiatorEndpoint, $0.connectDeadline)
        }), current.0.state == .connecting else { return }
        let source = Int(current.0.host)
        let destination = Int(current.1)
        let deadline = current.4
        let key = Self.portKey(hosts[destination].address, current.2)
        guard let listener = tcpListeners[key], listener.host == destination, hosts[destination].isRunning else {
            let refusal = now + latency(destination, source)
            // An RST arriving at or after the deadline finds the connect timed out already.
            schedule(refusal < deadline ? .synRefused(connection) : .connectTimeout(connection), at: min(refusal, deadline))
            return
        }
        counters.connectsAccepted += 1
        let now = self.now
        let id = inPlace(destination) { $0.accept(listener.kind, from: current.3, now: now) }
        let acknowledged = now + latency(destination, source)
        connections.modify(connection) { connection in
            connection.ends[1].coreID = id
            connection.ends[1].state = .open
            connection.ends[1].plane = listener.kind == .lookup ? .lookup : .peer
            connection.pipes[0].lastArrival = acknowledged
        }
        bind(destination, id, to: connection, end: 1)
        countOpened(destination, listener.kind == .lookup ? .lookup : .peer, .inbound)
        // A SYN-ACK arriving at or after the deadline comes too late: the timeout goes first.
        if acknowledged >= deadline { schedule(.connectTimeout(connection), at: deadline) }
        schedule(.synAcknowledged(connection), at: acknowledged)
        afterStep(destination)
    }

    func synAcknowledged(_ connection: SlotHandle) {
        guard let initiator = connections.end(connection, 0) else { return }
        guard initiator.state == .connecting else {
            // The initiator gave up (closed or timed out) meanwhile: its kernel answers with RST.
            sendReset(connection, toEnd: 1)
            return
        }
        connections.modify(connection) { $0.ends[0].state = .open }
        let now = self.now
        step(Int(initiator.host)) { $0.handle(.connected(initiator.coreID), now: now) }
    }

    func synRefused(_ connection: SlotHandle) {
        guard let initiator = connections.end(connection, 0), initiator.state == .connecting else { return }
        failConnect(connection, initiator, .refused)
    }

    func connectTimedOut(_ connection: SlotHandle) {
        guard let initiator = connections.end(connection, 0), let acceptor = connections.end(connection, 1) else { return }
        if initiator.state == .connecting {
            failConnect(connection, initiator, .timedOut)
            // The SYN got through but the answer came too late: the acceptor's end is reset.
            if acceptor.state == .open { sendReset(connection, toEnd: 1) }
            freeIfDone(connection)
        }
    }

    private func failConnect(_ connection: SlotHandle, _ initiator: ConnectionEnd, _ failure: ConnectFailure) {
        switch failure {
        case .refused: counters.connectsRefused += 1
        case .timedOut: counters.connectsTimedOut += 1
        case .failed: break
        }
        markClosed(connection, end: 0)
        let host = Int(initiator.host)
        unbind(host, initiator.coreID)
        let now = self.now
        step(host) { $0.handle(.connectFailed(initiator.coreID, failure), now: now) }
        freeIfDone(connection)
    }

    // MARK: Writing and closing

    func transmit(_ host: Int, _ id: ConnectionID) {
        guard let (connection, end) = binding(host, id) else {
            counters.staleOutputs += 1
            let written = inPlace(host) { $0.withOutgoing(id) { $0.count } } ?? 0
            if written > 0 { recordViolation("wrote \(written) bytes to connection \(id) after it closed", host: host) }
            return
        }
        guard connections.end(connection, end)?.state == .open else {
            let written = inPlace(host) { $0.withOutgoing(id) { $0.count } } ?? 0
            if written > 0 { recordViolation("wrote \(written) bytes to connection \(id) before it was established", host: host) }
            return
        }
        let written = takeOutgoing(host, id, into: connection, pipe: 1 - end)
        if written > 0 { sendSegment(connection, toEnd: 1 - end, count: written) }
    }

    /// Moves the node's outbox for `id` to the end of the pipe's buffer; returns the byte count.
    private func takeOutgoing(_ host: Int, _ id: ConnectionID, into connection: SlotHandle, pipe: Int) -> Int {
        let index = bufferIndex(connection, pipe: pipe)
        var buffer: [UInt8] = []
        swap(&buffer, &pipeBuffers[index])
        let written = inPlace(host) { $0.moveOutgoing(id, appendingTo: &buffer) } ?? 0
        swap(&buffer, &pipeBuffers[index])
        connections.modify(connection) { $0.pipes[pipe].length += written }
        return written
    }

    /// The index in `pipeBuffers` of a connection's pipe (buffers belong to the slot and are reused
    /// with it, so steady traffic allocates nothing).
    func bufferIndex(_ connection: SlotHandle, pipe: Int) -> Int {
        let index = Int(connection.slot) * 2 + pipe
        if index >= pipeBuffers.count { pipeBuffers.append(contentsOf: repeatElement([], count: index + 2 - pipeBuffers.count)) }
        return index
    }

    /// Drops `count` delivered or discarded bytes from the front of a pipe, compacting its buffer
    /// when they are all of it or a large share.
    private func advance(_ connection: SlotHandle, pipe: Int, by count: Int) {
        guard count > 0 else { return }
        let index = bufferIndex(connection, pipe: pipe)
        connections.modify(connection) { connection in
            connection.pipes[pipe].head += count
            let head = connection.pipes[pipe].head
            if head == connection.pipes[pipe].length {
                pipeBuffers[index].removeAll(keepingCapacity: true)
                connection.pipes[pipe].head = 0
                connection.pipes[pipe].length = 0
            } else if head >= 4096 && head * 2 >= connection.pipes[pipe].length {
                pipeBuffers[index].removeSubrange(0..<head)
                connection.pipes[pipe].head = 0
                connection.pipes[pipe].length -= head
            }
        }
    }

    private func sendSegment(_ connection: SlotHandle, toEnd end: Int, count: Int) {
        guard let arrival = arrivalTime(connection, toEnd: end, lossy: true) else { return }
        schedule(.segment(connection, toEnd: UInt8(end), count: UInt32(count)), at: arrival)
        let high = configuration.sendQueueHighWatermark
        let writer = connections.modify(connection) { connection -> ConnectionEnd? in
            guard connection.pipes[end].unread > high, !connection.ends[1 - end].isSendQueueHigh else { return nil }
            connection.ends[1 - end].isSendQueueHigh = true
            return connection.ends[1 - end]
        }
        if let writer = writer ?? nil {
            enqueueInput(.sendQueue(writer.coreID, isAboveHighWatermark: true), for: Int(writer.host))
        }
    }

    /// The arrival time of the next packet toward `end`: after the link is open again (partition),
    /// latency plus jitter plus retransmissions (if lossy), never before the pipe's previous arrival.
    private func arrivalTime(_ connection: SlotHandle, toEnd end: Int, lossy: Bool) -> Instant? {
        guard let (source, destination, lastArrival) = connections.read(connection, {
            (Int($0.ends[1 - end].host), Int($0.ends[end].host), $0.pipes[end].lastArrival)
        }) else { return nil }
        let departure = links.firstOpenInstant(source, destination, from: now)
        var delay = latency(source, destination) + drawJitter()
        if lossy { delay = delay + drawRetransmissionDelay() }
        let arrival = max(departure + delay, lastArrival)
        connections.modify(connection) { $0.pipes[end].lastArrival = arrival }
        return arrival
    }

    func close(_ host: Int, _ id: ConnectionID) {
        guard let (connection, end) = binding(host, id) else {
            counters.staleOutputs += 1
            _ = inPlace(host) { $0.withOutgoing(id) { $0.count } }
            return
        }
        let state = connections.end(connection, end)!.state
        let written = takeOutgoing(host, id, into: connection, pipe: 1 - end)
        markClosed(connection, end: end)
        unbind(host, id)
        if state == .open {
            if written > 0 { sendSegment(connection, toEnd: 1 - end, count: written) }
            if connections.end(connection, 1 - end)!.state.isLive, let arrival = arrivalTime(connection, toEnd: 1 - end, lossy: false) {
                schedule(.fin(connection, toEnd: UInt8(1 - end)), at: arrival)
            }
        }
        freeIfDone(connection)
    }

    func pauseReading(_ host: Int, _ id: ConnectionID, paused: Bool) {
        guard let (connection, end) = binding(host, id) else {
            counters.staleOutputs += 1
            return
        }
        connections.modify(connection) { $0.ends[end].isReadingPaused = paused }
        if !paused { schedule(.resume(connection, toEnd: UInt8(end)), at: now) }
    }

    /// Marks an end closed and drops the bytes that had arrived for it unread.
    private func markClosed(_ connection: SlotHandle, end: Int) {
        guard let closing = connections.end(connection, end) else { return }
        let unread = connections.modify(connection) { connection -> Int in
            connection.ends[end].state = .closed
            defer { connection.pipes[end].arrived = 0 }
            return connection.pipes[end].arrived
        } ?? 0
        advance(connection, pipe: end, by: unread)
        if closing.state.isLive { countClosed(Int(closing.host), closing.plane, end == 0 ? .outbound : .inbound) }
    }

    // MARK: Slot counts

    private func countOpened(_ host: Int, _ plane: Plane, _ direction: Direction) {
        hosts[host].openConnections[ConnectionCounts.index(plane, direction)] += 1
    }

    private func countClosed(_ host: Int, _ plane: Plane, _ direction: Direction) {
        hosts[host].openConnections[ConnectionCounts.index(plane, direction)] -= 1
    }

    // MARK: Arrivals

    func segmentArrived(_ connection: SlotHandle, toEnd end: Int, count: Int) {
        guard let state = connections.end(connection, end)?.state else { return }
        guard state == .open else {
            // Bytes for a closed socket: discarded, and the kernel answers with RST.
            advance(connection, pipe: end, by: count)
            counters.bytesDiscarded += count
            sendReset(connection, toEnd: 1 - end)
            freeIfDone(connection)
            return
        }
        connections.modify(connection) { $0.pipes[end].arrived += count }
        deliverArrivedBytes(connection, toEnd: end)
    }

    /// Hands the arrived bytes to the reader unless it paused reading; then reports the FIN if it
    /// came and nothing is left to read.
    func deliverArrivedBytes(_ connection: SlotHandle, toEnd end: Int) {
        guard let reader = connections.end(connection, end), reader.state == .open, !reader.isReadingPaused else { return }
        let host = Int(reader.host)
        let (head, arrived) = connections.modify(connection) { ($0.pipes[end].head, $0.pipes[end].arrived) }!
        if arrived > 0 {
            let index = bufferIndex(connection, pipe: end)
            var buffer: [UInt8] = []
            swap(&buffer, &pipeBuffers[index])
            let now = self.now
            buffer.withUnsafeBytes { bytes in
                inPlace(host) { $0.receive(UnsafeRawBufferPointer(rebasing: bytes[head..<(head + arrived)]), on: reader.coreID, now: now) }
            }
            swap(&buffer, &pipeBuffers[index])
            counters.bytesDelivered += arrived
            counters.readsDelivered += 1
            consume(arrived, from: connection, pipe: end)
            afterStep(host)
        }
        guard connections.read(connection, { connection in
            connection.ends[end].state == .open && !connection.ends[end].isReadingPaused && connection.pipes[end].finArrived
                && connection.pipes[end].arrived == 0
        }) == true else { return }
        reportClosed(connection, end: end, cause: .closedByPeer)
    }

    /// Puts the buffer back without its first `head + delivered` bytes once they are a large share,
    /// and tells the writer when its unread bytes fell below the low watermark.
    private func consume(_ delivered: Int, from connection: SlotHandle, pipe: Int) {
        let low = configuration.sendQueueLowWatermark
        connections.modify(connection) { $0.pipes[pipe].arrived -= delivered }
        advance(connection, pipe: pipe, by: delivered)
        let writer = connections.modify(connection) { connection -> ConnectionEnd? in
            guard connection.ends[1 - pipe].isSendQueueHigh, connection.pipes[pipe].unread < low,
                connection.ends[1 - pipe].state == .open else { return nil }
            connection.ends[1 - pipe].isSendQueueHigh = false
            return connection.ends[1 - pipe]
        }
        if let writer = writer ?? nil {
            enqueueInput(.sendQueue(writer.coreID, isAboveHighWatermark: false), for: Int(writer.host))
        }
    }

    func finArrived(_ connection: SlotHandle, toEnd end: Int) {
        guard connections.end(connection, end)?.state == .open else { return }
        connections.modify(connection) { $0.pipes[end].finArrived = true }
        deliverArrivedBytes(connection, toEnd: end)
    }

    func resetArrived(_ connection: SlotHandle, toEnd end: Int) {
        guard let target = connections.end(connection, end) else { return }
        switch target.state {
        case .connecting: failConnect(connection, target, .refused)
        case .open: reportClosed(connection, end: end, cause: .reset)
        case .awaitingAccept, .closed: break
        }
    }

    /// Tells a live end's node that the connection is gone.
    private func reportClosed(_ connection: SlotHandle, end: Int, cause: CloseCause) {
        guard let target = connections.end(connection, end) else { return }
        switch cause {
        case .closedByPeer: counters.finsDelivered += 1
        case .reset, .failed: counters.resets += 1
        }
        markClosed(connection, end: end)
        let host = Int(target.host)
        unbind(host, target.coreID)
        let now = self.now
        step(host) { $0.handle(.closed(target.coreID, cause), now: now) }
        freeIfDone(connection)
    }

    /// Sends RST toward a live end (once per connection).
    func sendReset(_ connection: SlotHandle, toEnd end: Int) {
        guard connections.read(connection, { !$0.isResetSent && $0.ends[end].state.isLive }) == true else { return }
        connections.modify(connection) { $0.isResetSent = true }
        if let arrival = arrivalTime(connection, toEnd: end, lossy: false) {
            schedule(.reset(connection, toEnd: UInt8(end)), at: arrival)
        }
    }

    /// Drops an end whose host went down: the other end, if live, gets RST.
    func abandonEnd(_ connection: SlotHandle, end: Int) {
        guard let current = connections.end(connection, end) else { return }
        let wasOpen = current.state == .open
        markClosed(connection, end: end)
        if wasOpen { sendReset(connection, toEnd: 1 - end) }
        freeIfDone(connection)
    }

    /// Frees a connection neither of whose ends expects anything more; its slot's buffers are
    /// emptied for the next connection in the slot (large ones are released).
    func freeIfDone(_ connection: SlotHandle) {
        guard connections.read(connection, { $0.isDone }) == true else { return }
        for pipe in 0..<2 {
            let index = bufferIndex(connection, pipe: pipe)
            pipeBuffers[index].removeAll(keepingCapacity: pipeBuffers[index].capacity <= Self.pipeBufferKeptMax)
        }
        connections.remove(connection)
        counters.connectionsEnded += 1
    }

    /// The largest pipe buffer kept for reuse when its connection ends.
    static var pipeBufferKeptMax: Int { 64 << 10 }

    // MARK: Link draws

    /// The one-way latency between two hosts (50 µs within one host).
    func latency(_ source: Int, _ destination: Int) -> Duration {
        source == destination ? .microseconds(50) : links.baseLatency(source, destination)
    }

    func drawJitter() -> Duration {
        let jitter = configuration.link.jitter
        return jitter.nanoseconds == 0 ? .zero : rng.duration(in: .zero...jitter)
    }

    func drawLoss() -> Bool {
        let loss = configuration.link.loss
        return loss > 0 && rng.chance(loss)
    }

    /// Extra delay of a TCP segment from lost transmissions: one timeout per loss, doubling.
    private func drawRetransmissionDelay() -> Duration {
        var delay = Duration.zero
        var timeout = configuration.link.retransmissionTimeout
        for _ in 0..<configuration.link.retransmissionsMax {
            guard drawLoss() else { break }
            delay = delay + timeout
            timeout = timeout * 2
        }
        return delay
    }

    /// The key of a (host address, port) binding.
    static func portKey(_ address: UInt32, _ port: UInt16) -> UInt64 { UInt64(address) << 16 | UInt64(port) }
}
