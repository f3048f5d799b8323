/// A 32-byte random challenge, echoed back to prove a reply answers one particular request.
///
/// Used by the lookup Ping/Pong, the UDP refresh ping/pong and the Ping protocol. Drawn from the
/// core's seeded `SplitMix64` (so a simulated run reproduces), which makes nonces unpredictable to
/// nobody who knows the seed: they defeat stale and misdirected replies, not an attacker who can
/// read the traffic (authenticated connections come later, see DESIGN.md). Stored as four
/// big-endian words like `PeerID`, so comparing and copying never allocate.
public struct Nonce: Hashable, Sendable, CustomStringConvertible {
    /// Bytes of a nonce on the wire.
    public static let byteCount = 32

    let w0: UInt64
    let w1: UInt64
    let w2: UInt64
    let w3: UInt64

    /// Creates a nonce from its four big-endian words.
    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Creates a nonce from exactly 32 bytes; nil for any other count.
    public init?(bytes: some Sequence<UInt8>) {
        guard let words = PeerID(bytes: bytes) else { return nil }
        self.init(words.w0, words.w1, words.w2, words.w3)
    }

    /// A uniformly random nonce drawn from `rng`.
    public static func random(using rng: inout SplitMix64) -> Nonce {
        Nonce(rng.next(), rng.next(), rng.next(), rng.next())
    }

    /// The 32 bytes, most significant first (allocates; for tests and logs).
    public var bytes: [UInt8] { PeerID(w0, w1, w2, w3).bytes }

    /// All 64 lowercase hex digits.
    public var description: String { PeerID(w0, w1, w2, w3).description }
}
