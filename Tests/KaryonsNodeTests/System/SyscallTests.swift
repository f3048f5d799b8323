#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import Testing
@testable import KaryonsNode

@Suite struct SyscallTests {
    /// A scripted libc call: fails with the given errnos in order, then succeeds with `result`.
    final class ScriptedCall {
        var failures: [Int32]
        let result: Int
        var calls = 0
        init(failing failures: [Int32], then result: Int) {
            self.failures = failures
            self.result = result
        }
        func callAsFunction() -> Int {
            calls += 1
            if failures.isEmpty { return result }
            errno = failures.removeFirst()
            return -1
        }
    }

    @Test func interruptedCallsAreRetried() throws {
        let call = ScriptedCall(failing: [EINTR, EINTR, EINTR], then: 42)
        let result = try syscall("read") { call() }
        guard case .processed(let value) = result else {
            Issue.record("expected .processed, got \(result)")
            return
        }
        #expect(value == 42)
        #expect(call.calls == 4)
    }

    @Test func wouldBlockErrnosBecomeWouldBlock() throws {
        for code in [EAGAIN, EWOULDBLOCK] {
            let call = ScriptedCall(failing: [EINTR, code], then: 1)
            let result = try syscall("recvmmsg") { call() }
            guard case .wouldBlock = result else {
                Issue.record("expected .wouldBlock for errno \(code), got \(result)")
                continue
            }
            #expect(call.calls == 2)
        }
    }

    @Test func otherErrnosAreTypedErrorsNamingTheCall() {
        let call = ScriptedCall(failing: [ECONNREFUSED], then: 0)
        #expect(throws: SystemError(call: "connect", code: ECONNREFUSED)) { try syscall("connect") { call() } }
        let error = SystemError(call: "connect", code: ECONNREFUSED)
        #expect(error.call == "connect")
        #expect(error.codeName == "ECONNREFUSED")
        #expect(error.description == "connect failed: ECONNREFUSED (Connection refused)")
        #expect(SystemError(call: "bind", code: 9_999).codeName == "errno 9999")
    }

    @Test func realNonBlockingReadOnAnEmptySocketWouldBlock() throws {
        let socket = try Sys.socket(.ipv4, type: CEPOLL_SOCK_DGRAM)
        defer { Sys.close(socket) }
        try Sys.bind(socket, to: .ipv4Loopback(port: 0))
        var byte: UInt8 = 0
        let result = try withUnsafeMutableBytes(of: &byte) { buffer throws(SystemError) in try Sys.read(socket, into: buffer) }
        guard case .wouldBlock = result else {
            Issue.record("expected .wouldBlock, got \(result)")
            return
        }
    }

    @Test func realBindToAnAddressInUseThrowsEADDRINUSE() throws {
        let first = try Sys.socket(.ipv4, type: CEPOLL_SOCK_STREAM)
        defer { Sys.close(first) }
        try Sys.bind(first, to: .ipv4Loopback(port: 0))
        try Sys.listen(first, backlog: 1)
        let taken = try Sys.localAddress(first)
        let second = try Sys.socket(.ipv4, type: CEPOLL_SOCK_STREAM)
        defer { Sys.close(second) }
        #expect(throws: SystemError(call: "bind", code: EADDRINUSE)) { try Sys.bind(second, to: taken) }
    }

    @Test func badDescriptorIsTreatedAsABugAndTraps() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var byte: UInt8 = 0
            // Descriptor 1_000_000 is never open (above any RLIMIT_NOFILE here), so read fails with EBADF.
            _ = try? withUnsafeMutableBytes(of: &byte) { buffer throws(SystemError) in
                try Sys.read(FileDescriptor(rawValue: 1_000_000), into: buffer)
            }
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("BUG in Karyons: read failed with EBADF"))
    }

    @Test func badPointerIsTreatedAsABugAndTraps() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = try? syscall("scripted") {
                errno = EFAULT
                return -1
            }
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("BUG in Karyons: scripted failed with EFAULT"))
    }
}
