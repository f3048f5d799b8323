#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor number: a plain value, not an owner.
///
/// Whoever created the descriptor closes it exactly once. The reactor owns every descriptor
/// registered with it (it closes them on deregistration and at shutdown), so code holding a
/// `FileDescriptor` must not use it after its registration ended: the number may already name a
/// different file.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The kernel's descriptor number.
    public let rawValue: Int32

    /// Wraps a descriptor number; it must be open.
    public init(rawValue: Int32) {
        precondition(rawValue >= 0, "BUG in Karyons: negative file descriptor \(rawValue)")
        self.rawValue = rawValue
    }

    public var description: String { "fd \(rawValue)" }
}
