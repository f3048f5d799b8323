#if canImport(Glibc)
import Glibc
#endif

/// The bytes a TCP connection still has to write: a growable ring, written with up to two iovecs.
///
/// Grows by doubling (only while a slow reader lets data pile up; the connection bounds it), and
/// gives its memory back once drained if it holds more than `retainedCapacityMax`, so a burst does
/// not pin memory for the connection's lifetime.
struct OutboundBuffer: ~Copyable {
    /// Capacity kept after draining; larger buffers are freed when they become empty. Zero: a
    /// connection queues bytes only while the kernel's buffer is full (or while it connects, as a
    /// handshake does), so keeping even the first 4 KiB would cost every idle peer 4 KiB for nothing;
    /// the next queue costs one allocation, next to the syscalls that found the kernel's buffer full.
    static let retainedCapacityMax = 0
    /// The first allocation.
    static let initialCapacity = 4 * 1_024

    private var storage: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    /// Index of the first unwritten byte.
    private var head = 0
    /// The number of unwritten bytes.
    private(set) var count = 0

    init() {}

    deinit {
        storage?.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// Appends `bytes` after the unwritten ones.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(count + bytes.count)
        guard let storage else { preconditionFailure("BUG in Karyons: OutboundBuffer without storage") }
        let tail = (head + count) & (capacity - 1)
        let firstPart = min(bytes.count, capacity - tail)
        (storage + tail).copyMemory(from: bytes.baseAddress!, byteCount: firstPart)
        if firstPart < bytes.count {
            storage.copyMemory(from: bytes.baseAddress! + firstPart, byteCount: bytes.count - firstPart)
        }
        count += bytes.count
    }

    /// Marks the first `written` bytes as written.
    mutating func consume(_ written: Int) {
        precondition(written >= 0 && written <= count, "BUG in Karyons: consumed \(written) of \(count) bytes")
        count -= written
        head = count == 0 ? 0 : (head + written) & (capacity - 1)
        if count == 0 && capacity > Self.retainedCapacityMax {
            storage?.deallocate()
            storage = nil
            capacity = 0
        }
    }

    /// Fills `vectors` (room for two) with the unwritten bytes in order; returns how many it used.
    func fill(_ vectors: UnsafeMutablePointer<iovec>) -> Int {
        guard count > 0, let storage else { return 0 }
        let firstPart = min(count, capacity - head)
        vectors[0] = iovec(iov_base: storage + head, iov_len: firstPart)
        guard firstPart < count else { return 1 }
        vectors[1] = iovec(iov_base: storage, iov_len: count - firstPart)
        return 2
    }

    /// Frees the memory and forgets the bytes (the connection closed).
    mutating func removeAll() {
        storage?.deallocate()
        storage = nil
        capacity = 0
        head = 0
        count = 0
    }

    /// Makes room for `needed` bytes, copying the ring into a larger one in order.
    private mutating func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        var newCapacity = max(Self.initialCapacity, capacity)
        while newCapacity < needed { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let storage, count > 0 {
            let firstPart = min(count, capacity - head)
            newStorage.copyMemory(from: storage + head, byteCount: firstPart)
            if firstPart < count {
                (newStorage + firstPart).copyMemory(from: storage, byteCount: count - firstPart)
            }
        }
        storage?.deallocate()
        storage = newStorage
        capacity = newCapacity
        head = 0
    }
}
