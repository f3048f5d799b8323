#if canImport(Glibc)
import Glibc
#endif
import CBaselines
import KaryonsCore
import KaryonsNode
import PingPong

/// Memory per established, idle TCP connection in the KaryonsNode transport.
///
/// One reactor on its own thread holds both ends of every connection (a listener and its accepted
/// connections, and the client connections). Connections are made in waves, each then carries one
/// 44-byte frame each way (so whatever a connection allocates on first use exists), and is left
/// idle. Measured between waves: the process's resident set (`/proc/self/statm`), the heap in use
/// (glibc `mallinfo2`), and, for reference, the kernel's TCP socket-buffer pages
/// (`/proc/net/sockstat`, machine-wide). Kernel memory (socket structures, buffers) never appears
/// in the resident set, so the resident and heap deltas are user space.
public enum MemoryProbe {
    /// One measurement point.
    public struct Sample {
        /// Connection pairs established so far.
        public var pairs: Int
        /// Resident bytes of the process.
        public var residentBytes: Int
        /// Resident bytes not backed by files (heap, stacks): the resident set without the pages of
        /// the executable and libraries, which grow once as code is first run.
        public var anonymousResidentBytes: Int
        /// Heap bytes in use.
        public var heapBytes: Int
        /// Kernel TCP buffer pages of the whole machine (`sockstat` `mem`), times the page size.
        public var kernelBufferBytes: Int
    }

    /// Why the probe could not run.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Samples with no connection, then after each wave of `pairsPerWave` pairs until `waves` waves.
    public static func measure(pairsPerWave: Int, waves: Int) throws(Failure) -> [Sample] {
        let reactor: Reactor
        do {
            reactor = try Reactor()
            try reactor.start()
        } catch {
            throw Failure(description: "reactor: \(error)")
        }
        defer {
            reactor.shutdown()
            reactor.waitUntilStopped()
        }
        let rig = ConnectionRig()
        let box = RigBox(rig: rig)
        let listening = Outcome()
        reactor.execute { listening.complete(box.rig.listen()) }
        if let failure = listening.wait() { throw Failure(description: failure) }
        var samples = [sample(pairs: 0)]
        for wave in 1...waves {
            let done = Outcome()
            reactor.execute { box.rig.connectWave(count: pairsPerWave, done: done) }
            if let failure = done.wait() { throw Failure(description: failure) }
            samples.append(sample(pairs: wave * pairsPerWave))
        }
        let closed = Outcome()
        reactor.execute { box.rig.closeAll(); closed.complete(nil) }
        _ = closed.wait()
        return samples
    }

    static func sample(pairs: Int) -> Sample {
        let (resident, shared) = residentAndSharedBytes()
        return Sample(pairs: pairs, residentBytes: resident, anonymousResidentBytes: resident - shared,
               heapBytes: Int(cbaseline_heap_bytes_in_use()),
               kernelBufferBytes: kernelTCPPages() * Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// The second and third fields of /proc/self/statm (resident and file-backed resident pages), in bytes.
    static func residentAndSharedBytes() -> (Int, Int) {
        let fields = readFile("/proc/self/statm").split(separator: " ")
        guard fields.count > 2, let resident = Int(fields[1]), let shared = Int(fields[2]) else { return (0, 0) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        return (resident * page, shared * page)
    }

    /// The `mem` of the `TCP:` line of /proc/net/sockstat (pages).
    static func kernelTCPPages() -> Int {
        for line in readFile("/proc/net/sockstat").split(separator: "\n") where line.hasPrefix("TCP:") {
            let fields = line.split(separator: " ")
            if let index = fields.firstIndex(of: "mem"), index + 1 < fields.count { return Int(fields[index + 1]) ?? 0 }
        }
        return 0
    }

    static func readFile(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A one-shot "done, or failed with a reason", waited for by the probe's thread.
final class Outcome: @unchecked Sendable {
    private let done = Rendezvous<String?>()

    func complete(_ failure: String?) { done.complete(failure) }

    /// nil on success; a reason on failure or after 60 s without an answer.
    func wait() -> String? {
        guard let value = done.wait(seconds: 60) else { return "no answer within 60 s" }
        return value
    }
}

struct RigBox: @unchecked Sendable {
    let rig: ConnectionRig
}

/// Both ends of the probe's connections, on one reactor.
final class ConnectionRig: TCPListenerDelegate, TCPConnectionDelegate {
    /// Bytes of the frame each connection carries once each way.
    static let frame: [UInt8] = [0, 0, 0, 40] + [UInt8](repeating: 0x11, count: 40)

    private var listener: TCPListener?
    private var connections: [TCPConnection] = []
    private var waveDone: Outcome?
    private var waveExpected = 0
    private var waveAnswered = 0
    private var closing = false

    func listen() -> String? {
        guard let reactor = Reactor.current else { return "not on a reactor" }
        var options = TCPListener.Options()
        options.backlog = 4_096
        do {
            listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: reactor, options: options, delegate: self)
            return nil
        } catch {
            return "listen: \(error)"
        }
    }

    /// Connects `count` pairs; each client sends one frame, the server echoes it, and the wave is
    /// done when every client has its echo back.
    func connectWave(count: Int, done: Outcome) {
        guard let reactor = Reactor.current, let address = listener?.localAddress else { return done.complete("no listener") }
        waveDone = done
        waveExpected = count
        waveAnswered = 0
        for _ in 0..<count {
            do {
                let connection = try TCPConnection.connect(to: address, on: reactor, delegate: self)
                connection.tag = 1  // a client
                connections.append(connection)
                try connection.send(Self.frame)
            } catch {
                return done.complete("connect: \(error)")
            }
        }
    }

    func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection) {
        connection.delegate = self
        connections.append(connection)
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        // Frames arrive whole on loopback at this size; a split one would stall the wave (and time out).
        if connection.tag == 0 {
            try? connection.send(bytes)
        } else {
            waveAnswered += bytes.count / Self.frame.count
            if waveAnswered == waveExpected { waveDone?.complete(nil) }
        }
    }

    func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError) {
        waveDone?.complete("connect: \(error)")
    }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        if !closing { waveDone?.complete("a connection closed: \(reason)") }
    }

    func closeAll() {
        closing = true
        listener?.close()
        for connection in connections { connection.close(mode: .reset) }
        connections.removeAll()
    }
}
