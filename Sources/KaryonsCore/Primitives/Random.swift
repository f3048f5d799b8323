/// The core's only source of randomness: SplitMix64, seeded by the caller.
///
/// KaryonsCore never touches the system RNG. A node is constructed with a seed (from `getrandom`
/// on a real node, from the simulation seed in `karyons sim`), so one seed reproduces a run.
/// Child machines get their own generator through `split()`, so adding a draw in one machine does
/// not shift the sequence of another. The algorithm is fixed (it is also the generator of the
/// routing-table benchmark workloads): seed 0 yields `e220a8397b1dcdaf, 6e789e6aa1b965f4, ...`.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    /// Creates a generator whose sequence is fully determined by `seed`.
    @inlinable
    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in `0..<bound` (Lemire's nearly-divisionless method), independent of the
    /// standard library's algorithm so that runs reproduce across toolchains. `bound` must be > 0.
    @inlinable
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "BUG in Karyons: uniform(below: 0)")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }

    /// A uniform index in `0..<count`. `count` must be > 0.
    @inlinable
    public mutating func index(below count: Int) -> Int { Int(uniform(below: UInt64(count))) }

    /// A uniform value in `[0, 1)` with 53 bits of precision.
    @inlinable
    public mutating func unitInterval() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// True with probability `probability` (clamped to [0, 1]).
    @inlinable
    public mutating func chance(_ probability: Double) -> Bool { unitInterval() < probability }

    /// A duration drawn uniformly from `range` (inclusive), for jittered timers.
    @inlinable
    public mutating func duration(in range: ClosedRange<Duration>) -> Duration {
        let span = range.upperBound.nanoseconds - range.lowerBound.nanoseconds
        if span == .max { return Duration(nanoseconds: next()) }
        return Duration(nanoseconds: range.lowerBound.nanoseconds + uniform(below: span + 1))
    }

    /// An independent generator for a child machine, seeded from this one.
    @inlinable
    public mutating func split() -> SplitMix64 { SplitMix64(seed: next()) }

    /// Shuffles `elements` in place (Fisher–Yates) with this generator.
    @inlinable
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ elements: inout C) {
        var remaining = elements.count
        var position = elements.startIndex
        while remaining > 1 {
            let offset = index(below: remaining)
            if offset != 0 { elements.swapAt(position, elements.index(position, offsetBy: offset)) }
            elements.formIndex(after: &position)
            remaining -= 1
        }
    }
}
