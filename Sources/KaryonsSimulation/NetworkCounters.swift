import KaryonsCore

/// What the virtual network did, counted over a whole run.
public struct NetworkCounters: Hashable, Sendable {
    /// Events processed by the scheduler.
    public var events = 0
    /// TCP connects started by nodes.
    public var connectsStarted = 0
    /// Connects that reached a listener (accepted by the remote node).
    public var connectsAccepted = 0
    /// Connects answered with RST (no listener, node down).
    public var connectsRefused = 0
    /// Connects that got no answer before their timeout (partition, loss, unknown address).
    public var connectsTimedOut = 0
    /// Connections that ended (both ends closed, refused or timed out) and were forgotten.
    public var connectionsEnded = 0
    /// Connection ends reported reset to their node (crash, bytes to a closed end, a late SYN-ACK).
    public var resets = 0
    /// Connection ends reported closed by the remote's FIN (most ends close on the Shutdown
    /// message before the FIN arrives, and are not counted here).
    public var finsDelivered = 0
    /// TCP payload bytes handed to receiving nodes.
    public var bytesDelivered = 0
    /// TCP reads handed to receiving nodes.
    public var readsDelivered = 0
    /// TCP bytes sent to a connection end that was already closed (discarded, answered with RST).
    public var bytesDiscarded = 0
    /// Datagrams sent by nodes.
    public var datagramsSent = 0
    /// Datagrams handed to receiving nodes (duplicates included).
    public var datagramsDelivered = 0
    /// Datagrams lost to random loss.
    public var datagramsLost = 0
    /// Datagrams dropped at a partition.
    public var datagramsCut = 0
    /// Extra copies of datagrams created by duplication.
    public var datagramsDuplicated = 0
    /// Datagrams held back for reordering.
    public var datagramsReordered = 0
    /// Datagrams for an address or port nobody listens on.
    public var datagramsUnroutable = 0
    /// Outputs about connections the network no longer knows (late `.transmit`, `.close`), ignored.
    public var staleOutputs = 0
    /// Node starts, graceful leaves, crashes and restarts.
    public var starts = 0
    public var leaves = 0
    public var crashes = 0
    public var restarts = 0

    public init() {}

    /// Feeds every counter into `hasher`, in declaration order.
    public func digest(into hasher: inout StableHasher) {
        for value in [
            events, connectsStarted, connectsAccepted, connectsRefused, connectsTimedOut, connectionsEnded, resets, finsDelivered,
            bytesDelivered, readsDelivered, bytesDiscarded, datagramsSent, datagramsDelivered, datagramsLost,
            datagramsCut, datagramsDuplicated, datagramsReordered, datagramsUnroutable, staleOutputs, starts, leaves,
            crashes, restarts,
        ] {
            hasher.combine(value)
        }
    }
}

/// How many of each kind of monitor event (`NodeEvent`) and pool output the nodes emitted.
public struct NodeEventCounts: Hashable, Sendable {
    /// Counts indexed by `Kind.rawValue`.
    public private(set) var counts = [Int](repeating: 0, count: Kind.allCases.count)

    /// The kinds counted: every `NodeEvent` case plus the pool outputs.
    public enum Kind: Int, CaseIterable, Sendable {
        case listening, listenFailed, connected, connectFailed, accepted, refused, disconnected
        case peerAdded, peerRemoved, handshakeFailed, sendDropped
        case lookupStarted, lookupSucceeded, lookupFailed, refreshStarted, refreshFinished
        case entryAdded, entryVerified, entryEvicted, seedingBackoff, datagramDropped
        case peerConnectedOutput, peerDisconnectedOutput, deliverOutput, stoppedOutput
    }

    public init() {}

    /// The count of `kind`.
    public subscript(kind: Kind) -> Int { counts[kind.rawValue] }

    mutating func count(_ kind: Kind) { counts[kind.rawValue] += 1 }

    /// The kind of a monitor event.
    public static func kind(of event: NodeEvent) -> Kind {
        switch event {
        case .listening: return .listening
        case .listenFailed: return .listenFailed
        case .connected: return .connected
        case .connectFailed: return .connectFailed
        case .accepted: return .accepted
        case .refused: return .refused
        case .disconnected: return .disconnected
        case .peerAdded: return .peerAdded
        case .peerRemoved: return .peerRemoved
        case .handshakeFailed: return .handshakeFailed
        case .sendDropped: return .sendDropped
        case .lookupStarted: return .lookupStarted
        case .lookupSucceeded: return .lookupSucceeded
        case .lookupFailed: return .lookupFailed
        case .refreshStarted: return .refreshStarted
        case .refreshFinished: return .refreshFinished
        case .entryAdded: return .entryAdded
        case .entryVerified: return .entryVerified
        case .entryEvicted: return .entryEvicted
        case .seedingBackoff: return .seedingBackoff
        case .datagramDropped: return .datagramDropped
        }
    }
}

/// A broken safety property, with where and when it was seen.
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    /// The virtual time of the event after which it was found.
    public var time: Instant
    /// The host it concerns, if one.
    public var host: Int?
    /// What is wrong.
    public var message: String

    public init(time: Instant, host: Int?, message: String) {
        self.time = time
        self.host = host
        self.message = message
    }

    public var description: String {
        let who = host.map { "host \($0)" } ?? "network"
        return "\(time) \(who): \(message)"
    }
}
