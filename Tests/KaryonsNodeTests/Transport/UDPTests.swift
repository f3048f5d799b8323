#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

@Suite struct UDPTests {
    static let families: [SocketAddress] = [.ipv4Loopback(port: 0), .ipv6Loopback(port: 0)]

    @Test(arguments: families)
    func echoes(over loopback: SocketAddress) async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = DatagramCollector(expected: 10)
        server.echoes = true
        let client = DatagramCollector(expected: 10)
        let messages = (0..<10).map { Array("datagram \($0)".utf8) + patternBytes(from: $0, count: 100 * $0) }
        let (serverAddress, clientAddress) = try await loop.run { () -> (SocketAddress, SocketAddress) in
            let serverSocket = try UDPSocket.bind(to: loopback, reactor: loop.reactor, delegate: server)
            let clientSocket = try UDPSocket.bind(to: loopback, reactor: loop.reactor, delegate: client)
            for message in messages {
                try clientSocket.send(message, to: serverSocket.localAddress)
            }
            return (serverSocket.localAddress, clientSocket.localAddress)
        }
        #expect(await client.count.wait())
        let (echoed, senders, replySenders) = try await loop.run {
            (client.datagrams.map(\.bytes), server.datagrams.map(\.from), client.datagrams.map(\.from))
        }
        #expect(echoed == messages)
        #expect(senders.allSatisfy { $0 == clientAddress })
        #expect(replySenders.allSatisfy { $0 == serverAddress })
        #expect(serverAddress.family == loopback.family)
    }

    /// 40 datagrams sent in one tick leave in 3 sendmmsg calls and arrive in 3 recvmmsg calls (16+16+8).
    @Test func datagramsAreBatchedBothWays() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = DatagramCollector(expected: 40)
        let client = DatagramCollector(expected: 0)
        let (sender, receiver) = try await loop.run { () -> (UDPSocket, UDPSocket) in
            let receiver = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: server)
            let sender = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: client)
            for index in 0..<40 {
                try sender.send([UInt8(index)], to: receiver.localAddress)
            }
            return (sender, receiver)
        }
        #expect(await server.count.wait())
        let (sent, received) = try await loop.run { (sender.statistics, receiver.statistics) }
        let order = try await loop.run { server.datagrams.map(\.bytes) }
        #expect(order == (0..<40).map { [UInt8($0)] })
        #expect(sent.sent == 40)
        #expect(sent.sendCalls == 3)
        #expect(received.received == 40)
        #expect(received.receiveCalls == 3)
    }

    /// Request/response traffic (one datagram per event) is received with single calls; a burst
    /// afterwards is noticed and received in batches again, with nothing lost or reordered.
    @Test func receivingSwitchesBetweenSingleCallsAndBatches() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = DatagramCollector(expected: 10 + 40)
        let client = DatagramCollector(expected: 0)
        let (sender, receiver) = try await loop.run { () -> (UDPSocket, UDPSocket) in
            let receiver = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: server)
            let sender = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: client)
            return (sender, receiver)
        }
        for index in 0..<10 {
            let arrived = Signal()
            try await loop.run {
                server.onReceive = { arrived.fire() }
                try sender.send([UInt8(index)], to: receiver.localAddress)
            }
            #expect(await arrived.wait())
        }
        let (callsBeforeBurst, batchingBeforeBurst) = try await loop.run {
            (receiver.statistics.receiveCalls, receiver.receivingInBatches)
        }
        try await loop.run {
            for index in 10..<50 { try sender.send([UInt8(index)], to: receiver.localAddress) }
        }
        #expect(await server.count.wait())
        let (order, calls, batchingAfterBurst) = try await loop.run {
            (server.datagrams.map(\.bytes), receiver.statistics.receiveCalls, receiver.receivingInBatches)
        }
        #expect(order == (0..<50).map { [UInt8($0)] })
        // One call per datagram while they came one at a time, and single calls from the second on.
        #expect(callsBeforeBurst == 10)
        #expect(!batchingBeforeBurst)
        #expect(batchingAfterBurst)
        // The burst: one single receive notices it, then batches of 16, 16 and 7.
        #expect(calls - callsBeforeBurst <= 5)
    }

    @Test func receiveBatchesPerEventAreBounded() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var options = UDPSocket.Options()
        options.batchSizeMax = 4
        options.receiveBatchesPerEventMax = 1
        let server = DatagramCollector(expected: 12)
        let (receiver, sender) = try await loop.run { () -> (UDPSocket, UDPSocket) in
            let receiver = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor, options: options,
                                              delegate: server)
            let sender = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor,
                                            delegate: DatagramCollector(expected: 0))
            return (receiver, sender)
        }
        // Queue all 12 in the kernel before the receiver's next tick: sent from one job, flushed at once.
        try await loop.run {
            for index in 0..<12 { try sender.send([UInt8(index)], to: receiver.localAddress) }
            sender.flush()
        }
        #expect(await server.count.wait())
        let perTick = try await loop.run { Dictionary(grouping: server.datagrams, by: \.tick).values.map(\.count) }
        #expect(perTick.reduce(0, +) == 12)
        #expect(perTick.max()! <= 4)
        #expect(try await loop.run { receiver.statistics.receiveCalls } == 3)
    }

    @Test func oversizedDatagramsAreDroppedAndCounted() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var large = UDPSocket.Options()
        large.datagramBytesMax = 8_192
        let server = DatagramCollector(expected: 1)
        let receiver = try await loop.run { () -> UDPSocket in
            let receiver = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: server)
            let sender = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, options: large,
                                            delegate: DatagramCollector(expected: 0))
            try sender.send([UInt8](repeating: 1, count: 3_000), to: receiver.localAddress)
            try sender.send([UInt8](repeating: 2, count: 2_048), to: receiver.localAddress)
            #expect(throws: UDPSendError.datagramTooLarge(size: 8_193)) {
                try sender.send([UInt8](repeating: 3, count: 8_193), to: receiver.localAddress)
            }
            return receiver
        }
        #expect(await server.count.wait())
        let (datagrams, statistics) = try await loop.run { (server.datagrams.map(\.bytes), receiver.statistics) }
        #expect(datagrams == [[UInt8](repeating: 2, count: 2_048)])
        #expect(statistics.receiveTruncated == 1)
        #expect(statistics.received == 1)
    }

    @Test func sendRefusesWhatItCannotSend() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        try await loop.run {
            let socket = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor,
                                            delegate: DatagramCollector(expected: 0))
            #expect(throws: UDPSendError.addressFamilyMismatch) { try socket.send([1], to: .ipv6Loopback(port: 9)) }
            socket.close()
            #expect(throws: UDPSendError.closed) { try socket.send([1], to: .ipv4Loopback(port: 9)) }
            #expect(socket.isClosed)
        }
    }

    /// A dual-stack IPv6 socket talks to an IPv4 peer; the peer shows up as plain IPv4.
    @Test func dualStackSocketSeesIPv4PeersAsIPv4() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = DatagramCollector(expected: 1)
        server.echoes = true
        let client = DatagramCollector(expected: 1)
        let clientAddress = try await loop.run { () -> SocketAddress in
            let serverSocket = try UDPSocket.bind(to: .ipv6Any(port: 0), reactor: loop.reactor, delegate: server)
            let clientSocket = try UDPSocket.bind(to: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: client)
            try clientSocket.send(Array("v4 to v6".utf8), to: .ipv4Loopback(port: serverSocket.localAddress.port))
            return clientSocket.localAddress
        }
        #expect(await client.count.wait())
        let (seen, reply) = try await loop.run { (server.datagrams.first?.from, client.datagrams.first?.bytes) }
        #expect(seen == clientAddress)
        #expect(reply == Array("v4 to v6".utf8))
    }
}
