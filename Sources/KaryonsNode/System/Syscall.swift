#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a non-blocking system call that did not fail.
enum IOResult<Value> {
    /// The call did its work and returned `Value` (a byte count, a descriptor, ...).
    case processed(Value)
    /// The call would have blocked (`EAGAIN`/`EWOULDBLOCK`): try again when the descriptor is ready.
    case wouldBlock
}

/// A system call failed with an errno that is neither a retry (`EINTR`), nor "try later" (`EAGAIN`),
/// nor a bug (`EBADF`, `EFAULT`, which trap).
///
/// Names the call and the errno, so a log line says exactly what the kernel refused.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name of the failed call, for example `"connect"`.
    public var call: String { callName.description }
    /// The errno the call failed with, for example `ECONNREFUSED`.
    public let code: Int32

    private let callName: StaticString

    /// Creates an error for `call` failing with errno `code`.
    public init(call: StaticString, code: Int32) {
        self.callName = call
        self.code = code
    }

    public static func == (lhs: SystemError, rhs: SystemError) -> Bool {
        lhs.code == rhs.code && lhs.call == rhs.call
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(call)
    }

    /// The symbolic errno name (`"ECONNREFUSED"`), or `"errno N"` for codes outside the common set.
    public var codeName: String { Errno.name(of: code) ?? "errno \(code)" }

    /// For example `connect failed: ECONNREFUSED (Connection refused)`.
    public var description: String { "\(call) failed: \(codeName) (\(Errno.message(of: code)))" }
}

/// Errno names and messages, without Foundation.
enum Errno {
    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EINVAL: "EINVAL", ENFILE: "ENFILE",
        EMFILE: "EMFILE", ENOSPC: "ENOSPC", EPIPE: "EPIPE", ENOTSOCK: "ENOTSOCK", EMSGSIZE: "EMSGSIZE",
        EPROTONOSUPPORT: "EPROTONOSUPPORT", EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT",
        EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN",
        ENETUNREACH: "ENETUNREACH", ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET",
        ENOBUFS: "ENOBUFS", EISCONN: "EISCONN", ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT",
        ECONNREFUSED: "ECONNREFUSED", EHOSTUNREACH: "EHOSTUNREACH", EALREADY: "EALREADY",
        EINPROGRESS: "EINPROGRESS", EPROTO: "EPROTO", ESHUTDOWN: "ESHUTDOWN",
    ]

    static func name(of code: Int32) -> String? { names[code] }

    /// The C library's message for `code` (thread-safe `strerror_r`).
    static func message(of code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let result = strerror_r(code, &buffer, buffer.count)
        guard result == 0 else { return "unknown error" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The one choke point every system call of KaryonsNode goes through.
///
/// `body` performs one libc call and returns its result widened to `Int` (`-1` means failure with
/// `errno` set). The errno policy:
/// - `EINTR`: the call is retried (a signal interrupted it; nothing happened).
/// - `EAGAIN`/`EWOULDBLOCK`: `.wouldBlock` (a non-blocking descriptor is not ready).
/// - `EBADF`/`EFAULT`: a trap, because only a bug in Karyons can pass a closed descriptor or a bad
///   pointer, and carrying on would corrupt another descriptor that reused the number.
/// - anything else: a `SystemError` naming `call` and the errno.
///
/// Never inlined, so errno is read right after the call with nothing in between, and profiles show
/// system calls under one name.
@inline(never)
func syscall(_ call: StaticString, _ body: () -> Int) throws(SystemError) -> IOResult<Int> {
    while true {
        let result = body()
        if result != -1 { return .processed(result) }
        let code = errno
        switch code {
        case EINTR:
            continue
        case EAGAIN, EWOULDBLOCK:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("BUG in Karyons: \(call) failed with \(Errno.name(of: code) ?? "errno \(code)")")
        default:
            throw SystemError(call: call, code: code)
        }
    }
}

/// `syscall` for calls that never return `EAGAIN` (socket, bind, epoll_ctl, ...): returns the value.
@inline(__always)
func syscallValue(_ call: StaticString, _ body: () -> Int) throws(SystemError) -> Int {
    switch try syscall(call, body) {
    case .processed(let value):
        return value
    case .wouldBlock:
        // A blocking-only call reporting EAGAIN is a kernel resource shortage, not readiness.
        throw SystemError(call: call, code: EAGAIN)
    }
}
