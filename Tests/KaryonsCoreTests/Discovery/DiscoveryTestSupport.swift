import Testing
@testable import KaryonsCore

/// An instant `value` seconds after zero (fractions allowed).
func sec(_ value: Double) -> Instant { Instant.zero + Duration(seconds: value) }

/// IDs, addresses and configurations shared by the discovery tests.
enum Fixture {
    /// The ID of the node under test.
    static let localID = PeerID(0x1111_0000_0000_0000, 0, 0, 1)

    /// A distinct peer ID in bucket 31 of `localID`'s table (first byte differs), numbered `n`.
    static func peerID(_ n: Int) -> PeerID { PeerID(0xA000_0000_0000_0000 | UInt64(n) << 32, 0, 0, UInt64(n)) }

    /// A public address in its own /24, numbered `n` (never shares a diversity subnet with another n).
    static func publicAddress(_ n: Int) -> IPAddress { .v4(0x2D00_0000 | UInt32(n & 0xFFFF) << 8 | 1) }

    /// A peer record at a public address: data port 3000, discovery port 3010.
    static func record(_ n: Int, address: IPAddress? = nil) -> PeerRecord {
        PeerRecord(id: peerID(n), address: address ?? publicAddress(n), port: 3000, discoveryPort: 3010)
    }

    /// The lookup endpoint of a record.
    static func lookupEndpoint(_ record: PeerRecord) -> Endpoint { .tcp(record.address, record.discoveryPort) }

    /// The refresh endpoint of a record.
    static func refreshEndpoint(_ record: PeerRecord) -> Endpoint { .udp(record.address, record.discoveryPort) }

    /// A seed's lookup endpoint.
    static let seed = Endpoint.tcp(.v4(0x2D63_6301), 4010)

    /// A listening node: data listener on 203.0.113.5:3000, lookups on port 3010.
    static func listeningConfiguration(_ change: (inout NodeConfiguration) -> Void = { _ in }) -> NodeConfiguration {
        var configuration = NodeConfiguration(
            peerListener: .tcp(.v4(0xCB00_7105), 3000), lookupListener: .tcp(.v4(0xCB00_7105), 3010),
            bootstrapPeers: [seed])
        change(&configuration)
        return configuration
    }

    /// An outbound-only node (no listener) seeding from `seed`.
    static func outboundConfiguration(_ change: (inout NodeConfiguration) -> Void = { _ in }) -> NodeConfiguration {
        var configuration = NodeConfiguration(bootstrapPeers: [seed])
        change(&configuration)
        return configuration
    }
}

extension Array where Element == NodeOutput {
    /// The index of the first output equal to `output`, for order assertions.
    func position(of output: NodeOutput) -> Int? { firstIndex(of: output) }
}
