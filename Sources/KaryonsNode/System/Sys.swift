#if canImport(Glibc)
import Glibc
#endif
import CEpoll

/// Thin wrappers over the system calls KaryonsNode uses, each through `syscall` (the choke point).
///
/// One function per call, no policy beyond the errno rules of `syscall`; callers decide what a
/// `.wouldBlock` or a `SystemError` means for them.
enum Sys {
    /// Closes `descriptor`. On Linux the number is released even when close reports an error, so
    /// `EINTR` and `EIO` are not retried (a retry could close a descriptor another thread just opened);
    /// `EBADF` traps, because closing twice is a bug.
    @inline(never)
    static func close(_ descriptor: FileDescriptor) {
        if Glibc.close(descriptor.rawValue) == -1 {
            let code = errno
            precondition(code != EBADF, "BUG in Karyons: close(\(descriptor)) failed with EBADF (closed twice?)")
        }
    }

    // MARK: Sockets

    /// A non-blocking, close-on-exec socket of `family` and `type` (`CEPOLL_SOCK_STREAM`/`_DGRAM`).
    static func socket(_ family: SocketAddress.Family, type: Int32) throws(SystemError) -> FileDescriptor {
        let domain = family == .ipv4 ? CEPOLL_AF_INET : CEPOLL_AF_INET6
        let value = try syscallValue("socket") { Int(Glibc.socket(domain, type | CEPOLL_SOCK_NONBLOCK_CLOEXEC, 0)) }
        return FileDescriptor(rawValue: Int32(value))
    }

    static func setOption(_ descriptor: FileDescriptor, level: Int32, name: Int32, value: Int32) throws(SystemError) {
        var value = value
        _ = try syscallValue("setsockopt") {
            Int(setsockopt(descriptor.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size)))
        }
    }

    static func setLinger(_ descriptor: FileDescriptor, seconds: Int32) throws(SystemError) {
        var value = linger(l_onoff: 1, l_linger: seconds)
        _ = try syscallValue("setsockopt") {
            Int(setsockopt(descriptor.rawValue, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size)))
        }
    }

    /// The pending socket error (`SO_ERROR`), which reading also clears; 0 if none.
    static func socketError(_ descriptor: FileDescriptor) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscallValue("getsockopt") {
            Int(getsockopt(descriptor.rawValue, SOL_SOCKET, SO_ERROR, &value, &length))
        }
        return value
    }

    static func bind(_ descriptor: FileDescriptor, to address: SocketAddress) throws(SystemError) {
        try address.withSockAddr { (pointer, length) throws(SystemError) in
            _ = try syscallValue("bind") { Int(Glibc.bind(descriptor.rawValue, pointer, length)) }
        }
    }

    static func listen(_ descriptor: FileDescriptor, backlog: Int32) throws(SystemError) {
        _ = try syscallValue("listen") { Int(Glibc.listen(descriptor.rawValue, backlog)) }
    }

    /// How a non-blocking `connect` started.
    enum ConnectStart {
        /// Connected at once (possible on loopback).
        case connected
        /// The handshake is under way: wait for writability, then read `SO_ERROR`.
        case inProgress
    }

    static func connect(_ descriptor: FileDescriptor, to address: SocketAddress) throws(SystemError) -> ConnectStart {
        do {
            _ = try address.withSockAddr { (pointer, length) throws(SystemError) in
                try syscallValue("connect") { Int(Glibc.connect(descriptor.rawValue, pointer, length)) }
            }
            return .connected
        } catch where error.code == EINPROGRESS {
            return .inProgress
        }
    }

    /// Accepts one connection as a non-blocking, close-on-exec descriptor; writes the peer's address
    /// into `peer` and its length into `peerLength`.
    static func accept(_ descriptor: FileDescriptor, peer: UnsafeMutablePointer<sockaddr_storage>,
                       peerLength: UnsafeMutablePointer<socklen_t>) throws(SystemError) -> IOResult<FileDescriptor> {
        let result = try peer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SystemError) in
            try syscall("accept4") {
                peerLength.pointee = socklen_t(MemoryLayout<sockaddr_storage>.size)
                return Int(cepoll_accept4(descriptor.rawValue, address, peerLength, CEPOLL_SOCK_NONBLOCK_CLOEXEC))
            }
        }
        switch result {
        case .processed(let value): return .processed(FileDescriptor(rawValue: Int32(value)))
        case .wouldBlock: return .wouldBlock
        }
    }

    static func shutdown(_ descriptor: FileDescriptor, how: Int32) throws(SystemError) {
        _ = try syscallValue("shutdown") { Int(Glibc.shutdown(descriptor.rawValue, how)) }
    }

    static func localAddress(_ descriptor: FileDescriptor) throws(SystemError) -> SocketAddress {
        try address(descriptor, "getsockname") { getsockname($0, $1, $2) }
    }

    static func remoteAddress(_ descriptor: FileDescriptor) throws(SystemError) -> SocketAddress {
        try address(descriptor, "getpeername") { getpeername($0, $1, $2) }
    }

    private static func address(
        _ descriptor: FileDescriptor,
        _ call: StaticString,
        _ body: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemError) -> Int in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) -> Int in
                try syscallValue(call) { Int(body(descriptor.rawValue, raw, &length)) }
            }
        }
        guard let address = SocketAddress(reading: &storage, length: length) else {
            throw SystemError(call: call, code: EAFNOSUPPORT)
        }
        return address
    }

    // MARK: Stream I/O

    static func read(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError)
        -> IOResult<Int>
    {
        try syscall("read") { Glibc.read(descriptor.rawValue, buffer.baseAddress, buffer.count) }
    }

    /// `send` with `MSG_NOSIGNAL`: a write to a reset connection returns `EPIPE` instead of raising SIGPIPE.
    static func send(_ descriptor: FileDescriptor, _ buffer: UnsafeRawBufferPointer) throws(SystemError)
        -> IOResult<Int>
    {
        try syscall("send") { Glibc.send(descriptor.rawValue, buffer.baseAddress, buffer.count, CEPOLL_MSG_NOSIGNAL) }
    }

    /// Gathering write (`sendmsg` with `MSG_NOSIGNAL`, the signal-free `writev`).
    static func sendVector(_ descriptor: FileDescriptor, _ vectors: UnsafeMutablePointer<iovec>, count: Int)
        throws(SystemError) -> IOResult<Int>
    {
        var message = msghdr()
        message.msg_iov = vectors
        message.msg_iovlen = count
        return try syscall("sendmsg") { Glibc.sendmsg(descriptor.rawValue, &message, CEPOLL_MSG_NOSIGNAL) }
    }

    // MARK: Datagram I/O

    static func receiveBatch(_ descriptor: FileDescriptor, _ messages: UnsafeMutablePointer<cepoll_mmsghdr>, count: Int)
        throws(SystemError) -> IOResult<Int>
    {
        try syscall("recvmmsg") { Int(cepoll_recvmmsg(descriptor.rawValue, messages, UInt32(count), 0, nil)) }
    }

    static func sendBatch(_ descriptor: FileDescriptor, _ messages: UnsafeMutablePointer<cepoll_mmsghdr>, count: Int)
        throws(SystemError) -> IOResult<Int>
    {
        try syscall("sendmmsg") {
            Int(cepoll_sendmmsg(descriptor.rawValue, messages, UInt32(count), CEPOLL_MSG_NOSIGNAL))
        }
    }

    /// One datagram to `address` (`sendto`: cheaper in the kernel than `sendmsg` for a single buffer).
    static func sendTo(_ descriptor: FileDescriptor, _ buffer: UnsafeRawBufferPointer,
                       address: UnsafePointer<sockaddr_storage>, length: socklen_t) throws(SystemError)
        -> IOResult<Int>
    {
        try address.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SystemError) in
            try syscall("sendto") {
                Glibc.sendto(descriptor.rawValue, buffer.baseAddress, buffer.count, CEPOLL_MSG_NOSIGNAL, address,
                             length)
            }
        }
    }

    /// One datagram (`recvfrom` with `MSG_TRUNC`, so the result is the datagram's full length even
    /// when it did not fit `buffer`).
    static func receiveFrom(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer,
                            address: UnsafeMutablePointer<sockaddr_storage>,
                            length: UnsafeMutablePointer<socklen_t>) throws(SystemError) -> IOResult<Int> {
        try address.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SystemError) in
            try syscall("recvfrom") {
                length.pointee = socklen_t(MemoryLayout<sockaddr_storage>.size)
                return Glibc.recvfrom(descriptor.rawValue, buffer.baseAddress, buffer.count, CEPOLL_MSG_TRUNC,
                                      address, length)
            }
        }
    }

    // MARK: epoll and eventfd

    static func epollCreate() throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: Int32(try syscallValue("epoll_create1") { Int(epoll_create1(CEPOLL_CLOEXEC)) }))
    }

    static func epollControl(_ epoll: FileDescriptor, _ operation: Int32, _ descriptor: FileDescriptor,
                             events: UInt32, token: UInt64) throws(SystemError) {
        var event = epoll_event()
        cepoll_event_set(&event, events, token)
        _ = try syscallValue("epoll_ctl") { Int(epoll_ctl(epoll.rawValue, operation, descriptor.rawValue, &event)) }
    }

    static func epollWait(_ epoll: FileDescriptor, _ events: UnsafeMutablePointer<epoll_event>, capacity: Int,
                          timeoutMilliseconds: Int32) throws(SystemError) -> Int {
        try syscallValue("epoll_wait") { Int(epoll_wait(epoll.rawValue, events, Int32(capacity), timeoutMilliseconds)) }
    }

    static func eventCreate() throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: Int32(try syscallValue("eventfd") { Int(eventfd(0, CEPOLL_EFD_NONBLOCK_CLOEXEC)) }))
    }

    /// Adds one to the eventfd counter, making it readable. `.wouldBlock` only at counter overflow,
    /// which still leaves it readable, so it is ignored.
    static func eventSignal(_ descriptor: FileDescriptor) throws(SystemError) {
        var one: UInt64 = 1
        _ = try syscall("write") { Glibc.write(descriptor.rawValue, &one, MemoryLayout<UInt64>.size) }
    }

    /// Resets the eventfd counter to zero.
    static func eventReset(_ descriptor: FileDescriptor) throws(SystemError) {
        var value: UInt64 = 0
        _ = try syscall("read") { Glibc.read(descriptor.rawValue, &value, MemoryLayout<UInt64>.size) }
    }
}
