#if canImport(Glibc)
import Glibc
#endif

/// The process's file-descriptor limit and usage (`RLIMIT_NOFILE`, `/proc/self/fd`).
public enum ProcessDescriptors {
    /// The soft and hard `RLIMIT_NOFILE`.
    public static func limits() throws(LoopbackError) -> (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw .descriptorLimitUnknown(lastError("getrlimit")) }
        return (clamp(limit.rlim_cur), clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard limit (an unprivileged process may) and returns the soft
    /// limit now in force.
    public static func raiseSoftLimit() throws(LoopbackError) -> Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw .descriptorLimitUnknown(lastError("getrlimit")) }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { return clamp(raised.rlim_cur) }
        }
        return clamp(limit.rlim_cur)
    }

    /// Descriptors open in this process now (entries of `/proc/self/fd`, less the one listing it),
    /// or nil when that directory cannot be read.
    public static func openCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            // The record may be shorter than `dirent` (its name is as long as it needs): read the
            // name's bytes in place, never copy the struct.
            let name = UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: UInt8.self)
            let dot = UInt8(ascii: ".")
            let isDotEntry = name[0] == dot && (name[1] == 0 || (name[1] == dot && name[2] == 0))
            if !isDotEntry { count += 1 }
        }
        return count - 1
    }

    private static let direntNameOffset: Int = {
        guard let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else {
            preconditionFailure("BUG in Karyons: dirent.d_name is a stored field with an offset")
        }
        return offset
    }()

    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }

    /// `RLIM_INFINITY` and other huge values become `Int.max`.
    private static func clamp(_ value: rlim_t) -> Int { value > rlim_t(Int.max) ? Int.max : Int(value) }

    private static func lastError(_ call: String) -> String { "\(call): \(String(cString: strerror(errno)))" }
}
