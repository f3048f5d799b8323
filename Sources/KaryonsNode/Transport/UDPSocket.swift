#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// Receives the events of a `UDPSocket`, on the reactor's loop thread.
public protocol UDPSocketDelegate: AnyObject {
    /// A datagram arrived from `sender` (IPv4 peers of a dual-stack IPv6 socket appear as IPv4).
    /// `datagram` lives in the socket's receive buffer and is valid only during this call.
    func udpSocket(_ socket: UDPSocket, didReceive datagram: UnsafeRawBufferPointer, from sender: SocketAddress)

    /// The kernel refused a queued datagram (for example an unreachable network); it was dropped.
    func udpSocket(_ socket: UDPSocket, didFailToSend error: SystemError, to destination: SocketAddress)
}

extension UDPSocketDelegate {
    public func udpSocket(_ socket: UDPSocket, didFailToSend error: SystemError, to destination: SocketAddress) {}
}

/// Why `UDPSocket.send` refused a datagram (nothing was queued).
public enum UDPSendError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The socket is closed.
    case closed
    /// The datagram is larger than `datagramBytesMax`.
    case datagramTooLarge(size: Int)
    /// An IPv6 destination for an IPv4 socket.
    case addressFamilyMismatch
    /// The socket's send buffer is full and a batch of datagrams is already waiting; UDP drops here
    /// rather than queue without bound.
    case wouldBlock

    public var description: String {
        switch self {
        case .closed: return "the socket is closed"
        case .datagramTooLarge(let size): return "datagram of \(size) bytes exceeds the socket's maximum"
        case .addressFamilyMismatch: return "IPv6 destination for an IPv4 socket"
        case .wouldBlock: return "the socket's send queue is full"
        }
    }
}

/// A non-blocking UDP socket on a reactor (IPv4 or IPv6), batching with `recvmmsg`/`sendmmsg`.
///
/// **Receiving.** Into buffers allocated once: no allocation per datagram. Batching where it pays:
/// while datagrams arrive in bursts (the previous batch held several, or the socket was readable on
/// consecutive ticks), each readiness event receives up to `batchSizeMax` datagrams per `recvmmsg`,
/// up to `receiveBatchesPerEventMax` calls; while they arrive one at a time (request/response
/// traffic), one `recvfrom` per event, which costs the kernel less than a `recvmmsg` that finds one.
/// Datagrams larger than `datagramBytesMax` are dropped and counted (`MSG_TRUNC`).
///
/// **Sending.** `send` copies the datagram into a batch of at most `batchSizeMax` (≤ 16) slots; the
/// batch goes out at the end of the tick (or when it is full, or on `flush()`) with one `sendmmsg`,
/// or one `sendto` when it holds a single datagram. If the kernel's buffer is full the batch waits
/// for writability; a `send` that finds it still full gets `.wouldBlock` (UDP is lossy: dropping
/// here bounds memory).
///
/// Loop thread only (or before the reactor runs).
public final class UDPSocket: ReactorClient {
    /// Tunables of a UDP socket. Each is named and tested.
    public struct Options: Sendable, Hashable {
        /// The largest datagram sent or received; larger ones are refused or dropped.
        public var datagramBytesMax = 2_048
        /// Datagrams per `recvmmsg`/`sendmmsg` call, at most 16.
        public var batchSizeMax = 16
        /// `recvmmsg` calls per readiness event before yielding to other sources.
        public var receiveBatchesPerEventMax = 4
        /// `SO_RCVBUF`, or nil for the kernel's default.
        public var receiveBufferBytes: Int32?
        /// `SO_SNDBUF`, or nil for the kernel's default.
        public var sendBufferBytes: Int32?

        /// The defaults.
        public init() {}
    }

    /// The cap on `Options.batchSizeMax`: beyond it batching stops paying.
    public static let batchSizeLimit = 16

    /// Counters of the socket's work.
    public struct Statistics: Sendable, Hashable {
        /// Datagrams delivered to the delegate.
        public var received: UInt64 = 0
        /// Datagrams the kernel accepted for sending.
        public var sent: UInt64 = 0
        /// Received datagrams dropped for exceeding `datagramBytesMax`.
        public var receiveTruncated: UInt64 = 0
        /// Failed `recvmmsg` calls.
        public var receiveErrors: UInt64 = 0
        /// Datagrams the kernel refused (reported to the delegate).
        public var sendErrors: UInt64 = 0
        /// `recvmmsg`/`recvfrom` calls that returned datagrams.
        public var receiveCalls: UInt64 = 0
        /// `sendmmsg`/`sendto` calls that sent datagrams.
        public var sendCalls: UInt64 = 0
    }

    /// The reactor that drives this socket.
    public let reactor: Reactor
    /// The options the socket was created with.
    public let options: Options
    /// The bound address, with the actual port when port 0 was asked for.
    public let localAddress: SocketAddress
    /// Receives datagrams and send failures; held strongly until the socket closes.
    public var delegate: (any UDPSocketDelegate)?
    /// Counters of the socket's work.
    public private(set) var statistics = Statistics()

    private var registration: ReactorRegistration
    private var closed = false
    private let receiving: DatagramBatch
    private let sending: DatagramBatch
    /// Pending datagrams are the slots `sendStart..<sendEnd` of `sending`.
    private var sendStart = 0
    private var sendEnd = 0
    private var waitingForWritable = false
    private var flushScheduled = false
    /// Receive with `recvmmsg` (bursts) rather than one `recvfrom` per event (one at a time).
    private(set) var receivingInBatches = true
    /// The tick of the last readiness event, to notice a socket that stays readable (a burst).
    private var lastReadableTick = UInt64.max

    /// Binds a UDP socket to `address`. Port 0 picks a free port (see `localAddress`).
    public static func bind(
        to address: SocketAddress, reactor: Reactor, options: Options = Options(), delegate: any UDPSocketDelegate
    ) throws(ReactorError) -> UDPSocket {
        reactor.preconditionLoopThread()
        precondition((1...batchSizeLimit).contains(options.batchSizeMax) && options.datagramBytesMax > 0
            && options.datagramBytesMax <= 65_535 && options.receiveBatchesPerEventMax > 0,
            "BUG in Karyons: inconsistent UDPSocket.Options \(options)")
        let descriptor: FileDescriptor
        let boundAddress: SocketAddress
        do {
            descriptor = try Sys.socket(address.family, type: CEPOLL_SOCK_DGRAM)
        } catch {
            throw .system(error)
        }
        do {
            if let bytes = options.receiveBufferBytes {
                try Sys.setOption(descriptor, level: SOL_SOCKET, name: SO_RCVBUF, value: bytes)
            }
            if let bytes = options.sendBufferBytes {
                try Sys.setOption(descriptor, level: SOL_SOCKET, name: SO_SNDBUF, value: bytes)
            }
            try Sys.bind(descriptor, to: address)
            boundAddress = try Sys.localAddress(descriptor)
        } catch {
            Sys.close(descriptor)
            throw .system(error)
        }
        do {
            return try UDPSocket(reactor: reactor, descriptor: descriptor, localAddress: boundAddress,
                                 options: options, delegate: delegate)
        } catch {
            Sys.close(descriptor)
            throw error
        }
    }

    private init(reactor: Reactor, descriptor: FileDescriptor, localAddress: SocketAddress, options: Options,
                 delegate: any UDPSocketDelegate) throws(ReactorError) {
        self.reactor = reactor
        self.options = options
        self.localAddress = localAddress
        self.delegate = delegate
        receiving = DatagramBatch(size: options.batchSizeMax, slotBytes: options.datagramBytesMax)
        sending = DatagramBatch(size: options.batchSizeMax, slotBytes: options.datagramBytesMax)
        registration = ReactorRegistration(descriptor: descriptor, slot: .max, generation: 0)
        registration = try reactor.register(descriptor, interest: .readable, client: self)
    }

    /// Whether the socket is closed.
    public var isClosed: Bool { closed }

    /// Datagrams queued and not yet taken by the kernel.
    public var pendingDatagrams: Int { sendEnd - sendStart }

    // MARK: - Sending

    /// Queues `datagram` for `destination`; it leaves at the end of the tick with the rest of the
    /// batch. An IPv4 destination on an IPv6 socket is sent as IPv4-mapped (dual stack).
    public func send(_ datagram: UnsafeRawBufferPointer, to destination: SocketAddress) throws(UDPSendError) {
        reactor.preconditionLoopThread()
        guard !closed else { throw .closed }
        guard datagram.count <= options.datagramBytesMax else { throw .datagramTooLarge(size: datagram.count) }
        let target: SocketAddress
        switch (localAddress.family, destination.family) {
        case (.ipv4, .ipv6): throw .addressFamilyMismatch
        case (.ipv6, .ipv4): target = destination.mappingToIPv6
        case (.ipv4, .ipv4), (.ipv6, .ipv6): target = destination
        }
        if sendEnd == sending.size {
            if !waitingForWritable { flush() }
            guard !closed else { throw .closed }
            compactPending()
            guard sendEnd < sending.size else { throw .wouldBlock }
        }
        sending.store(datagram, to: target, slot: sendEnd)
        sendEnd += 1
        if !flushScheduled && !waitingForWritable {
            flushScheduled = true
            reactor.scheduleFlush(client: self)
        }
    }

    /// Queues `datagram` for `destination` (a convenience over the buffer form).
    public func send(_ datagram: [UInt8], to destination: SocketAddress) throws(UDPSendError) {
        let result = datagram.withUnsafeBytes { buffer in
            Result { () throws(UDPSendError) in try send(buffer, to: destination) }
        }
        try result.get()
    }

    /// Sends the queued datagrams now instead of at the end of the tick. May call `didFailToSend`.
    public func flush() {
        reactor.preconditionLoopThread()
        while sendStart < sendEnd && !closed {
            let count = sendEnd - sendStart
            let result: IOResult<Int>
            do {
                if count == 1 {
                    result = try sending.withSlot(sendStart) { (datagram, address, length) throws(SystemError) in
                        try Sys.sendTo(registration.descriptor, datagram, address: address, length: length)
                    }
                } else {
                    result = try Sys.sendBatch(registration.descriptor, sending.headers + sendStart, count: count)
                }
            } catch {
                dropFirstPending(after: error)
                continue
            }
            guard case .processed(let value) = result else {
                waitForWritable(true)
                return
            }
            let sent = count == 1 ? 1 : value
            statistics.sent &+= UInt64(sent)
            statistics.sendCalls &+= 1
            sendStart += sent
        }
        sendStart = 0
        sendEnd = 0
        waitForWritable(false)
    }

    /// The kernel refused the first pending datagram: report it and move on to the next.
    private func dropFirstPending(after error: SystemError) {
        let destination = sending.address(slot: sendStart)
        sendStart += 1
        statistics.sendErrors &+= 1
        if let destination {
            delegate?.udpSocket(self, didFailToSend: error, to: destination.unmappingIPv4)
        }
    }

    /// Moves pending datagrams to the front of the batch, making room at its end.
    private func compactPending() {
        guard sendStart > 0 else { return }
        for offset in 0..<(sendEnd - sendStart) {
            sending.move(slot: sendStart + offset, to: offset)
        }
        sendEnd -= sendStart
        sendStart = 0
    }

    private func waitForWritable(_ wait: Bool) {
        guard wait != waitingForWritable, !closed else { return }
        waitingForWritable = wait
        try? reactor.setInterest(wait ? [.readable, .writable] : .readable, for: registration)
    }

    /// Closes the socket; queued datagrams are dropped. No delegate method is called afterwards.
    public func close() {
        reactor.preconditionLoopThread()
        guard !closed else { return }
        closed = true
        reactor.deregister(registration)
        sendStart = 0
        sendEnd = 0
        delegate = nil
    }

    // MARK: - Reactor events

    func handleIOEvents(_ events: IOEvents) {
        if events.contains(.error) {
            // An asynchronous error (ICMP, with IP_RECVERR); reading SO_ERROR clears it so a
            // level-triggered EPOLLERR cannot repeat forever.
            _ = try? Sys.socketError(registration.descriptor)
        }
        if events.contains(.readable) {
            receiveAvailable()
        }
        if events.contains(.writable) && !closed {
            flush()
        }
    }

    /// Receives what is waiting: batches while datagrams come in bursts, else one datagram.
    private func receiveAvailable() {
        if receiving.size == 1 {
            // Batches of one: `recvfrom` does the same work as a `recvmmsg` of one, for less.
            receiveSingles()
            return
        }
        let tick = reactor.counters.ticks
        let readableAgain = tick == lastReadableTick &+ 1
        lastReadableTick = tick
        if receivingInBatches || readableAgain {
            receiveBatches()
        } else {
            receiveOne()
        }
    }

    /// Receives batches until drained or the per-event budget is spent.
    private func receiveBatches() {
        for round in 0..<options.receiveBatchesPerEventMax {
            receiving.prepareForReceive()
            let result: IOResult<Int>
            do {
                result = try Sys.receiveBatch(registration.descriptor, receiving.headers, count: receiving.size)
            } catch {
                statistics.receiveErrors &+= 1
                return
            }
            guard case .processed(let count) = result else { return }
            statistics.receiveCalls &+= 1
            if round == 0 {
                // One datagram per event: switch to the cheaper single receive until a burst shows.
                receivingInBatches = count > 1
            }
            for slot in 0..<count {
                deliver(slot: slot)
                guard !closed else { return }
            }
            // A short batch means the socket is drained.
            guard count == receiving.size else { return }
        }
    }

    /// Receives datagrams one `recvfrom` at a time until drained or the per-event budget is spent.
    private func receiveSingles() {
        for _ in 0..<options.receiveBatchesPerEventMax {
            guard receiveOne(), !closed else { return }
        }
    }

    /// Receives one datagram with `recvfrom`; a level-triggered event brings the next. Returns
    /// false if there was none (or the receive failed).
    @discardableResult
    private func receiveOne() -> Bool {
        let result: IOResult<Int>
        do {
            result = try receiving.withReceiveSlot(0) { (buffer, address, length) throws(SystemError) in
                try Sys.receiveFrom(registration.descriptor, into: buffer, address: address, length: length)
            }
        } catch {
            statistics.receiveErrors &+= 1
            return false
        }
        guard case .processed(let count) = result else { return false }
        statistics.receiveCalls &+= 1
        receiving.headers[0].msg_len = UInt32(truncatingIfNeeded: count)
        receiving.headers[0].msg_hdr.msg_flags = count > receiving.slotBytes ? CEPOLL_MSG_TRUNC : 0
        deliver(slot: 0)
        return true
    }

    private func deliver(slot: Int) {
        let header = receiving.headers[slot].msg_hdr
        guard header.msg_flags & CEPOLL_MSG_TRUNC == 0 else {
            statistics.receiveTruncated &+= 1
            return
        }
        guard let sender = receiving.address(slot: slot) else { return }
        statistics.received &+= 1
        let length = Int(receiving.headers[slot].msg_len)
        let datagram = UnsafeRawBufferPointer(start: receiving.slotData(slot), count: length)
        delegate?.udpSocket(self, didReceive: datagram, from: sender.unmappingIPv4)
    }

    func handleTimer(_ timer: ReactorTimer) {}

    func handleFlush() {
        flushScheduled = false
        if !waitingForWritable && !closed {
            flush()
        }
    }

    func handleReactorShutdown() {
        closed = true
        sendStart = 0
        sendEnd = 0
        delegate = nil
    }
}

@available(*, unavailable)
extension UDPSocket: Sendable {}

/// Memory for a batch of datagrams, wired once for `recvmmsg`/`sendmmsg`: per slot a data buffer,
/// an iovec pointing at it, a `sockaddr_storage` for the address, and an `mmsghdr` tying them.
final class DatagramBatch {
    let size: Int
    let slotBytes: Int
    let headers: UnsafeMutablePointer<cepoll_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let data: UnsafeMutableRawPointer

    init(size: Int, slotBytes: Int) {
        self.size = size
        self.slotBytes = slotBytes
        headers = .allocate(capacity: size)
        vectors = .allocate(capacity: size)
        names = .allocate(capacity: size)
        data = .allocate(byteCount: size * slotBytes, alignment: 16)
        for slot in 0..<size {
            vectors[slot] = iovec(iov_base: data + slot * slotBytes, iov_len: slotBytes)
            names[slot] = sockaddr_storage()
            headers[slot] = cepoll_mmsghdr()
            headers[slot].msg_hdr.msg_iov = vectors + slot
            headers[slot].msg_hdr.msg_iovlen = 1
            headers[slot].msg_hdr.msg_name = UnsafeMutableRawPointer(names + slot)
            headers[slot].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
    }

    deinit {
        headers.deallocate()
        vectors.deallocate()
        names.deallocate()
        data.deallocate()
    }

    func slotData(_ slot: Int) -> UnsafeMutableRawPointer { data + slot * slotBytes }

    /// Restores the lengths the kernel overwrote on the previous receive.
    func prepareForReceive() {
        for slot in 0..<size {
            headers[slot].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            headers[slot].msg_hdr.msg_flags = 0
            vectors[slot].iov_len = slotBytes
        }
    }

    /// Copies a datagram and its destination into `slot`.
    func store(_ datagram: UnsafeRawBufferPointer, to destination: SocketAddress, slot: Int) {
        if let base = datagram.baseAddress, datagram.count > 0 {
            slotData(slot).copyMemory(from: base, byteCount: datagram.count)
        }
        vectors[slot].iov_len = datagram.count
        headers[slot].msg_hdr.msg_namelen = destination.write(to: names + slot)
    }

    /// Calls `body` with the datagram, address and address length stored in `slot` (for `sendto`).
    func withSlot<Result>(
        _ slot: Int,
        _ body: (UnsafeRawBufferPointer, UnsafePointer<sockaddr_storage>, socklen_t) throws(SystemError) -> Result
    ) throws(SystemError) -> Result {
        try body(UnsafeRawBufferPointer(start: slotData(slot), count: vectors[slot].iov_len), names + slot,
                 headers[slot].msg_hdr.msg_namelen)
    }

    /// Calls `body` with `slot`'s receive buffer and address storage (for `recvfrom`); the address
    /// length it writes is kept as the slot's.
    func withReceiveSlot<Result>(
        _ slot: Int,
        _ body: (UnsafeMutableRawBufferPointer, UnsafeMutablePointer<sockaddr_storage>,
                 UnsafeMutablePointer<socklen_t>) throws(SystemError) -> Result
    ) throws(SystemError) -> Result {
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        defer { headers[slot].msg_hdr.msg_namelen = length }
        return try body(UnsafeMutableRawBufferPointer(start: slotData(slot), count: slotBytes), names + slot, &length)
    }

    /// Moves the datagram in slot `source` to slot `target`.
    func move(slot source: Int, to target: Int) {
        slotData(target).copyMemory(from: slotData(source), byteCount: vectors[source].iov_len)
        vectors[target].iov_len = vectors[source].iov_len
        names[target] = names[source]
        headers[target].msg_hdr.msg_namelen = headers[source].msg_hdr.msg_namelen
    }

    /// The address stored in (or received into) `slot`.
    func address(slot: Int) -> SocketAddress? {
        SocketAddress(reading: names + slot, length: headers[slot].msg_hdr.msg_namelen)
    }
}
