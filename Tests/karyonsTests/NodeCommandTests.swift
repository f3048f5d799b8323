import KaryonsCore
import Testing

@testable import karyons

/// `karyons node`'s options: the configuration they build, and bad values refused naming the option.
@Suite struct NodeCommandTests {
    @Test func endpointsLandInTheConfiguration() throws {
        let command = try NodeCommand.parse([
            "--listen", "tcp://127.0.0.1:30000", "--discovery", "tcp://127.0.0.1:30010", "--discovery",
            "udp://127.0.0.1:30010", "--bootstrap", "tcp://127.0.0.1:30011", "--peer", "tcp://[::1]:30002",
        ])
        let configuration = try command.makeConfiguration()
        #expect(configuration.peerListener == Endpoint.tcp(IPAddress("127.0.0.1")!, 30000))
        #expect(configuration.lookupListener == Endpoint.tcp(IPAddress("127.0.0.1")!, 30010))
        #expect(configuration.refreshListener == Endpoint.udp(IPAddress("127.0.0.1")!, 30010))
        #expect(configuration.bootstrapPeers == [Endpoint.tcp(IPAddress("127.0.0.1")!, 30011)])
        #expect(configuration.dialPeers == [Endpoint.tcp(IPAddress("::1")!, 30002)])
    }

    @Test(arguments: [
        (["--listen", "udp://127.0.0.1:30000"], "--listen udp://127.0.0.1:30000: expected a tcp:// endpoint"),
        (["--bootstrap", "127.0.0.1"], "--bootstrap 127.0.0.1"),
        (["--peer-id", "12ab"], "--peer-id must be 64 hex digits"),
        (["--protocol", "files"], "unknown --protocol files"),
        (["--log-level", "loud"], "unknown --log-level loud"),
        (["--external-address", "here"], "--external-address here is not an IP address"),
        (["--network-version", "one"], "--network-version one"),
    ])
    func badValuesAreRefusedNamingTheOption(arguments: [String], reason: String) throws {
        do {
            _ = try NodeCommand.parse(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            let message = NodeCommand.message(for: error)
            #expect(message.contains(reason), "\(message)")
        }
    }
}
