#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
@testable import KaryonsNode

/// Accepts every connection and echoes what it reads; records how connections ended.
final class EchoServer: TCPListenerDelegate, TCPConnectionDelegate {
    var accepted: [TCPConnection] = []
    var closeReasons: [TCPCloseReason] = []
    var eofs = 0
    var received: [UInt8] = []
    var echoes = true
    var refuses = false
    var onAccept: ((TCPConnection) -> Void)?
    var onRead: ((TCPConnection, UnsafeRawBufferPointer) -> Void)?
    var onEOF: ((TCPConnection) -> Void)?
    var acceptTicks: [UInt64] = []
    var pauses: [(SystemError, Duration)] = []
    var resumes = 0
    let acceptedCount: CountdownSignal
    let closed = Signal()
    let paused: CountdownSignal
    let resumed = Signal()

    init(expectedConnections: Int = 1, expectedPauses: Int = 1) {
        acceptedCount = CountdownSignal(target: expectedConnections)
        paused = CountdownSignal(target: expectedPauses)
    }

    func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection) {
        accepted.append(connection)
        acceptTicks.append(listener.reactor.counters.ticks)
        acceptedCount.add()
        if !refuses {
            connection.delegate = self
        }
        onAccept?(connection)
    }

    func tcpListener(_ listener: TCPListener, didPauseAcceptingAfter error: SystemError, retryAfter: Duration) {
        pauses.append((error, retryAfter))
        paused.add()
    }

    func tcpListenerDidResumeAccepting(_ listener: TCPListener) {
        resumes += 1
        resumed.fire()
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        received.append(contentsOf: bytes)
        onRead?(connection, bytes)
        if echoes { try? connection.send(bytes) }
    }

    func tcpConnectionDidReadEOF(_ connection: TCPConnection) {
        eofs += 1
        onEOF?(connection)
    }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        closeReasons.append(reason)
        closed.fire()
    }
}

/// A client that sends `message` once connected and collects what comes back.
final class EchoClient: TCPConnectionDelegate {
    let message: [UInt8]
    var received: [UInt8] = []
    var connectError: TCPConnectError?
    var closeReason: TCPCloseReason?
    var connectedCount = 0
    var eofs = 0
    let connected = Signal()
    let echoed = Signal()
    let ended = Signal()
    var onEchoed: (() -> Void)?
    /// Called on every later read that completes another full echo of `message`.
    var onEchoedAgain: (() -> Void)?

    init(message: [UInt8]) { self.message = message }

    func tcpConnectionDidConnect(_ connection: TCPConnection) {
        connectedCount += 1
        if !message.isEmpty { try! connection.send(message) }
        connected.fire()
    }

    func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError) {
        connectError = error
        ended.fire()
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        received.append(contentsOf: bytes)
        guard received.count >= message.count && !message.isEmpty else { return }
        if !echoed.isFired {
            echoed.fire()
            onEchoed?()
        } else {
            onEchoedAgain?()
        }
    }

    func tcpConnectionDidReadEOF(_ connection: TCPConnection) { eofs += 1 }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        closeReason = reason
        ended.fire()
    }
}

/// Collects datagrams (and optionally echoes them).
final class DatagramCollector: UDPSocketDelegate {
    var datagrams: [(bytes: [UInt8], from: SocketAddress, tick: UInt64)] = []
    var sendFailures: [(SystemError, SocketAddress)] = []
    var echoes = false
    var onReceive: (() -> Void)?
    let count: CountdownSignal

    init(expected: Int) { count = CountdownSignal(target: expected) }

    func udpSocket(_ socket: UDPSocket, didReceive datagram: UnsafeRawBufferPointer, from sender: SocketAddress) {
        datagrams.append((Array(datagram), sender, socket.reactor.counters.ticks))
        if echoes { try? socket.send(datagram, to: sender) }
        count.add()
        onReceive?()
    }

    func udpSocket(_ socket: UDPSocket, didFailToSend error: SystemError, to destination: SocketAddress) {
        sendFailures.append((error, destination))
    }
}

/// A repeating byte pattern (period 251, a prime, so it never lines up with chunk sizes), cheap to
/// produce and to check even in debug builds: a receiver verifies a long stream with `memcmp`.
enum Pattern {
    static let period = 251
    /// The longest slice served at once.
    static let sliceBytesMax = 256 * 1_024
    static let table: [UInt8] = (0..<(sliceBytesMax + period)).map { UInt8($0 % period) }

    /// `count` pattern bytes starting at stream offset `offset`.
    static func bytes(from offset: Int, count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var done = 0
        while done < count {
            let size = min(sliceBytesMax, count - done)
            let start = (offset + done) % period
            result.append(contentsOf: table[start..<start + size])
            done += size
        }
        return result
    }

    /// Whether `bytes` are the pattern bytes at stream offset `offset`.
    static func matches(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < bytes.count {
            let size = min(sliceBytesMax, bytes.count - done)
            let start = (offset + done) % period
            let equal = table.withUnsafeBytes { table in
                memcmp(table.baseAddress! + start, bytes.baseAddress! + done, size) == 0
            }
            guard equal else { return false }
            done += size
        }
        return true
    }
}

func patternBytes(from offset: Int, count: Int) -> [UInt8] { Pattern.bytes(from: offset, count: count) }

/// A bound (not listening) IPv4 TCP socket: connecting to its port is refused, and nobody else can
/// take the port while it is held.
func reserveClosedPort() throws -> (FileDescriptor, SocketAddress) {
    let socket = try Sys.socket(.ipv4, type: Int32(SOCK_STREAM.rawValue))
    try Sys.bind(socket, to: .ipv4Loopback(port: 0))
    return (socket, try Sys.localAddress(socket))
}
