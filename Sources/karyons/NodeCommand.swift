import ArgumentParser
import Dispatch
import Glibc
import KaryonsCore
import KaryonsNode
import Logging

/// `karyons node`: one real node on the epoll reactor, until SIGINT or SIGTERM.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node until SIGINT/SIGTERM, printing its monitor events.",
        discussion: """
            Example (the seed's first two peers):
              karyons node --listen tcp://127.0.0.1:30000 --discovery tcp://127.0.0.1:30010 \\
                --discovery udp://127.0.0.1:30010
              karyons node --listen tcp://127.0.0.1:30001 --discovery tcp://127.0.0.1:30011 \\
                --discovery udp://127.0.0.1:30011 --bootstrap tcp://127.0.0.1:30010
            With --protocol chat, lines typed on standard input go to every peer, and what peers say is printed.
            """
    )

    @Option(help: "The data (peer) listener, e.g. tcp://127.0.0.1:30000. Without it the node is outbound-only.")
    var listen: String?

    @Option(help: "A discovery listener: tcp://host:port for lookups, udp://host:port for refresh (repeatable).")
    var discovery: [String] = []

    @Option(help: "A seed node's lookup endpoint, tcp://host:port (repeatable).")
    var bootstrap: [String] = []

    @Option(name: .customLong("peer"), help: "A data endpoint to dial and keep connected (repeatable).")
    var peers: [String] = []

    @Option(help: "This node's ID, 64 hex digits (default: random).")
    var peerId: String?

    @Option(help: "The address to advertise when listening on 0.0.0.0 or ::.")
    var externalAddress: String?

    @Option(help: "The network version, seed form (\"0.1.0\" means 0.1.0, accepting ^0.1.0).")
    var networkVersion = "0.1.0"

    @Option(help: "An example protocol to run: chat.")
    var `protocol`: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "warning"

    func validate() throws {
        _ = try makeConfiguration()
        _ = try parsedLogLevel()
        if let peerId, PeerID(hex: peerId) == nil { throw ValidationError("--peer-id must be 64 hex digits") }
        if let name = `protocol`, name != "chat" { throw ValidationError("unknown --protocol \(name); known: chat") }
    }

    func run() async throws {
        let level = try parsedLogLevel()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let node = try Node(id: peerId.flatMap { PeerID(hex: $0) }, configuration: try makeConfiguration(),
                            logger: Logger(label: "karyons.node"))
        if `protocol` == "chat" { try await node.attach(ChatProtocol.self) }
        let events = await node.events
        let printer = Task {
            for await event in events { say("[\(node.id.shortDescription)] \(event)") }
        }
        try await node.start()
        say("node \(node.id) running; Ctrl-C stops it")
        let signals = Self.stopOnSignals(node)
        if `protocol` == "chat" { ChatProtocol.broadcastStandardInput(of: node) }
        try await node.run()
        await node.shutdown()
        await printer.value
        withExtendedLifetime(signals) {}
    }

    private func parsedLogLevel() throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("unknown --log-level \(logLevel)")
        }
        return level
    }

    /// The node's configuration from the options; every endpoint error names the option.
    func makeConfiguration() throws -> NodeConfiguration {
        var configuration = NodeConfiguration()
        do {
            configuration.networkVersion = try ProtocolVersion(parsing: networkVersion)
        } catch {
            throw ValidationError("--network-version \(networkVersion): \(error)")
        }
        configuration.peerListener = try listen.map { try Self.endpoint($0, .tcp, option: "--listen") }
        for text in discovery {
            let endpoint = try Self.endpoint(text, nil, option: "--discovery")
            switch endpoint.transport {
            case .tcp: configuration.lookupListener = endpoint
            case .udp: configuration.refreshListener = endpoint
            }
        }
        configuration.bootstrapPeers = try bootstrap.map { try Self.endpoint($0, .tcp, option: "--bootstrap") }
        configuration.dialPeers = try peers.map { try Self.endpoint($0, .tcp, option: "--peer") }
        if let externalAddress {
            guard let address = IPAddress(externalAddress) else {
                throw ValidationError("--external-address \(externalAddress) is not an IP address")
            }
            configuration.externalAddress = address
        }
        return configuration
    }

    private static func endpoint(_ text: String, _ transport: Endpoint.Transport?, option: String) throws -> Endpoint {
        let endpoint: Endpoint
        do {
            endpoint = try Endpoint(parsing: text)
        } catch {
            throw ValidationError("\(option) \(text): \(error)")
        }
        if let transport, endpoint.transport != transport {
            throw ValidationError("\(option) \(text): expected a \(transport):// endpoint")
        }
        return endpoint
    }

    /// Shuts the node down on SIGINT or SIGTERM (the first one; a second one exits at once).
    private static func stopOnSignals(_ node: Node) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let stopping = StopFlag()
            source.setEventHandler {
                if stopping.raise() {
                    Task { await node.shutdown() }
                } else {
                    Glibc.exit(1)
                }
            }
            source.resume()
            return source
        }
    }
}

/// Set once; tells the first signal from a repeated one.
private final class StopFlag: @unchecked Sendable {
    private var raised = false
    private let queue = DispatchQueue(label: "karyons.stop-flag")

    /// True the first time.
    func raise() -> Bool {
        queue.sync {
            defer { raised = true }
            return !raised
        }
    }
}

/// Prints a line and flushes at once, so the output reads live when piped (tmux, a log file).
func say(_ line: String) {
    print(line)
    fflush(nil)
}
