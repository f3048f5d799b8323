import Glibc

/// Wall time, memory, `/proc`, output files and the crash hook: with `HugePageHeap`'s start-up
/// re-run, the only places the tool touches the system.
enum SystemResources {
    /// Seconds on the monotonic clock.
    static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Processors online (at least 1): the second-thread invariant checks need one to spare.
    static var processorsOnline: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// This program's peak resident set size in bytes: the kernel's high-water mark for the program
    /// image (`VmHWM`), which starts afresh at exec. (`getrusage` also counts what the process ran
    /// before exec: `swift run`'s own 120 MiB, or the first start of `karyons sim` before it runs
    /// itself again on huge pages.) Falls back to `getrusage` where `/proc` is missing.
    static func maxResidentBytes() -> Int? {
        if let status = readSmallFile("/proc/self/status"), let bytes = kibibytes(field: "VmHWM", in: status) {
            return bytes
        }
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        return Int(usage.ru_maxrss) * 1024
    }

    /// The value of a `Name:   1234 kB` line of a `/proc` file's `text`, in bytes.
    static func kibibytes(field name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0] == name else { continue }
            let words = parts[1].split { $0 == " " || $0 == "\t" }
            guard words.count == 2, words[1] == "kB", let value = Int(words[0]) else { return nil }
            return value * 1024
        }
        return nil
    }

    /// The text of a small file (up to 64 KiB), nil if it cannot be read.
    static func readSmallFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let count = fread(&bytes, 1, bytes.count, file)
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// Writes `text` to standard error.
    static func printError(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        let bytes = Array(line.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if result > 0 {
                written += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    /// Writes `contents` to the file at `path` (replacing it).
    static func write(_ contents: String, to path: String) throws(FileError) {
        guard let file = fopen(path, "w") else { throw FileError(path: path, reason: String(cString: strerror(errno))) }
        defer { fclose(file) }
        guard fputs(contents, file) >= 0 else { throw FileError(path: path, reason: String(cString: strerror(errno))) }
    }

    struct FileError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "cannot write \(path): \(reason)" }
    }
}

/// Prints a message (the replay command) to standard error if the process dies of a trap or a
/// fault, then hands the signal to the handler that was installed before (the Swift runtime's
/// backtracer, or the default action).
enum CrashMessage {
    nonisolated(unsafe) private static var message: UnsafeMutableBufferPointer<CChar>?
    nonisolated(unsafe) private static var previous: [Int32: sigaction] = [:]
    private static let signals = [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE]

    /// Installs the hook; call once, before the work that may crash.
    static func install(_ text: String) {
        let bytes = Array(("\n" + text + "\n").utf8CString.dropLast())
        let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
        message = buffer
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { signal, info, context in CrashMessage.handle(signal, info, context) }
            action.sa_flags = SA_SIGINFO
            sigemptyset(&action.sa_mask)
            var old = sigaction()
            sigaction(signal, &action, &old)
            previous[signal] = old
        }
    }

    private static func handle(_ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
        if let message { _ = Glibc.write(2, message.baseAddress, message.count) }
        var old = previous[signal] ?? sigaction()
        if old.sa_flags & SA_SIGINFO != 0, let handler = old.__sigaction_handler.sa_sigaction {
            handler(signal, info, context)
            return
        }
        old.__sigaction_handler.sa_handler = nil
        sigaction(signal, &old, nil)
        raise(signal)
    }
}
