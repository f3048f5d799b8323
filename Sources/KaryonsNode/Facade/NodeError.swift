import KaryonsCore

/// Why a `Node` call failed.
public enum NodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `start`/`attach` after the node started, or any call after it stopped.
    case invalidState(String)
    /// A protocol's `version` string does not parse (seed form `"0.2.0, >0.1.0"`).
    case invalidProtocolVersion(ProtocolID, String)
    /// A protocol with this ID is already attached.
    case protocolAlreadyAttached(ProtocolID)
    /// A listener could not be opened; the node was stopped.
    case listenFailed(ListenerKind, Endpoint, reason: String)
    /// The reactor could not be created or started.
    case reactor(ReactorError)

    public var description: String {
        switch self {
        case .invalidState(let what): return what
        case .invalidProtocolVersion(let id, let text): return "protocol \(id): invalid version \"\(text)\""
        case .protocolAlreadyAttached(let id): return "protocol \(id) is already attached"
        case .listenFailed(let kind, let endpoint, let reason): return "cannot listen (\(kind)) on \(endpoint): \(reason)"
        case .reactor(let error): return "reactor: \(error)"
        }
    }
}
