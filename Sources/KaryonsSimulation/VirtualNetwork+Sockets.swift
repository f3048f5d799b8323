import KaryonsCore

// Listeners (TCP and UDP) and datagrams.

/// A datagram on its way: payload, source, and the (address, port) key it is sent to.
struct DatagramInFlight {
    var datagram: RefreshDatagram
    var source: Endpoint
    var destinationKey: UInt64
}

extension VirtualNetwork {
    // MARK: Listening

    /// Opens a listener as the kernel would: on the host's own address or the wildcard, on the
    /// given port or an ephemeral one for port 0; answers `.listening` with the resolved endpoint
    /// or `.listenFailed` (wrong transport, foreign address, port in use).
    func listen(_ host: Int, _ kind: ListenerKind, at endpoint: Endpoint) {
        let isDatagram = kind == .refresh
        let transport: Endpoint.Transport = isDatagram ? .udp : .tcp
        guard endpoint.transport == transport else {
            enqueueInput(.listenFailed(kind, endpoint, reason: "a \(kind) listener needs a \(transport) endpoint"), for: host)
            return
        }
        guard case .v4(let requested) = endpoint.address.unmapped else {
            enqueueInput(.listenFailed(kind, endpoint, reason: "EAFNOSUPPORT (simulated hosts are IPv4)"), for: host)
            return
        }
        let address = hosts[host].address
        guard requested == 0 || requested == address else {
            enqueueInput(.listenFailed(kind, endpoint, reason: "EADDRNOTAVAIL"), for: host)
            return
        }
        let port = endpoint.port == 0 ? allocatePort(host, datagram: isDatagram) : endpoint.port
        let key = Self.portKey(address, port)
        if isDatagram {
            guard udpSockets[key] == nil else {
                enqueueInput(.listenFailed(kind, endpoint, reason: "EADDRINUSE"), for: host)
                return
            }
            if let previous = hosts[host].udpPort { udpSockets[Self.portKey(address, previous)] = nil }
            udpSockets[key] = host
            hosts[host].udpPort = port
        } else {
            guard tcpListeners[key] == nil else {
                enqueueInput(.listenFailed(kind, endpoint, reason: "EADDRINUSE"), for: host)
                return
            }
            tcpListeners[key] = TCPListener(host: host, kind: kind)
            listenerKeys[host].append(key)
        }
        let resolved = Endpoint(transport, address: requested == 0 ? endpoint.address : .v4(address), port: port)
        enqueueInput(.listening(kind, resolved), for: host)
    }

    /// The next free ephemeral port of the host (cycling through the range, skipping bound ports).
    func allocatePort(_ host: Int, datagram: Bool) -> UInt16 {
        let range = EphemeralPorts.range
        let address = hosts[host].address
        for _ in range {
            let port = hosts[host].nextEphemeralPort
            hosts[host].nextEphemeralPort = port == range.upperBound ? range.lowerBound : port + 1
            let key = Self.portKey(address, port)
            let isBound = datagram ? udpSockets[key] != nil : tcpListeners[key] != nil
            if !isBound { return port }
        }
        preconditionFailure("BUG in Karyons: host \(host) bound every ephemeral port")
    }

    /// Closes the host's listeners and its UDP socket.
    func closeSockets(_ host: Int) {
        for key in listenerKeys[host] { tcpListeners[key] = nil }
        listenerKeys[host].removeAll(keepingCapacity: true)
        if let port = hosts[host].udpPort {
            udpSockets[Self.portKey(hosts[host].address, port)] = nil
            hosts[host].udpPort = nil
        }
    }

    // MARK: Datagrams

    /// Sends from the host's UDP socket (its refresh listener, or an ephemeral port bound on first
    /// use): dropped at a partition or by loss, else delivered after the link's latency, possibly
    /// held back (reordering) or duplicated.
    func sendDatagram(_ host: Int, _ datagram: RefreshDatagram, to endpoint: Endpoint) {
        counters.datagramsSent += 1
        let address = hosts[host].address
        let sourcePort: UInt16
        if let port = hosts[host].udpPort {
            sourcePort = port
        } else {
            sourcePort = allocatePort(host, datagram: true)
            udpSockets[Self.portKey(address, sourcePort)] = host
            hosts[host].udpPort = sourcePort
        }
        guard case .v4(let target) = endpoint.address.unmapped, let destination = hostByAddress[target] else {
            counters.datagramsUnroutable += 1
            return
        }
        if links.isCut(host, destination, at: now) {
            counters.datagramsCut += 1
            return
        }
        if drawLoss() {
            counters.datagramsLost += 1
            return
        }
        let inFlight = DatagramInFlight(
            datagram: datagram, source: .udp(.v4(address), sourcePort), destinationKey: Self.portKey(target, endpoint.port))
        scheduleDatagram(inFlight, from: host, to: destination)
        let duplication = configuration.link.duplication
        if duplication > 0 && rng.chance(duplication) {
            counters.datagramsDuplicated += 1
            scheduleDatagram(inFlight, from: host, to: destination)
        }
    }

    private func scheduleDatagram(_ inFlight: DatagramInFlight, from source: Int, to destination: Int) {
        var delay = latency(source, destination) + drawJitter()
        let reordering = configuration.link.reordering
        if reordering > 0 && rng.chance(reordering) {
            counters.datagramsReordered += 1
            delay = delay + rng.duration(in: .zero...configuration.link.reorderingDelay)
        }
        let slot = datagramsInFlight.insert(inFlight)
        schedule(.datagram(slot), at: now + delay)
    }

    func datagramArrived(_ slot: SlotHandle) {
        guard let inFlight = datagramsInFlight.remove(slot) else { return }
        guard let host = udpSockets[inFlight.destinationKey], hosts[host].isRunning else {
            counters.datagramsUnroutable += 1
            return
        }
        counters.datagramsDelivered += 1
        var writer = ByteWriter(appendingTo: datagramScratch)
        datagramScratch = []
        writer.removeAll()
        inFlight.datagram.encode(into: &writer)
        let bytes = writer.takeBytes()
        let now = self.now
        step(host) { node in bytes.withUnsafeBytes { node.receiveDatagram($0, from: inFlight.source, now: now) } }
        datagramScratch = bytes
    }
}
