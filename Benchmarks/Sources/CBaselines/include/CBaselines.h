// CBaselines: raw C ping-pong baselines over loopback, the floor the Swift implementations are
// compared with. Each run puts a server and a client in this process on two pthreads (pinned to
// different CPUs when asked), each with its own epoll instance, and reports round trips per second
// measured on the client. No logic lives on the Swift side: Swift fills the parameters, calls one
// function and reads the result.
//
// This header is imported by Swift, so it must not define _GNU_SOURCE (the .c files do).
#ifndef CBASELINES_H
#define CBASELINES_H

#include <stdint.h>

/// The largest payload a run accepts (a ping is one datagram or one frame body).
#define CBASELINE_PAYLOAD_SIZE_MAX 1024u
/// The largest UDP window (datagrams in flight) a run accepts.
#define CBASELINE_WINDOW_MAX 4096u
/// The largest recvmmsg/sendmmsg batch a run accepts.
#define CBASELINE_BATCH_MAX 64u
/// The largest number of TCP connections a run accepts (two descriptors each, in one process).
#define CBASELINE_CONNECTIONS_MAX 8000u

/// One run's parameters. Zeroed fields other than those marked optional are invalid.
typedef struct {
    /// Bytes per ping and per pong: the UDP datagram, or the TCP frame body after its 4-byte
    /// big-endian length. 4...CBASELINE_PAYLOAD_SIZE_MAX.
    uint32_t payload_size;
    /// UDP: pings the client keeps in flight. Ignored by TCP (one per connection).
    uint32_t window;
    /// UDP: 1 = one send/recv syscall per datagram; more = recvmmsg/sendmmsg, at most this many
    /// datagrams per call. Ignored by TCP.
    uint32_t batch_max;
    /// TCP: connections, each with one ping in flight. Ignored by UDP.
    uint32_t connections;
    /// Stop after this many round trips (optional: 0 = no count limit).
    uint64_t round_trips_max;
    /// Stop after this long, in nanoseconds (optional: 0 = no time limit).
    uint64_t duration_ns;
    /// Fail if the timed phase lasts this long, in nanoseconds, so a run never hangs.
    uint64_t give_up_ns;
    /// CPU for the client thread, -1 to leave it unpinned.
    int32_t client_cpu;
    /// CPU for the server thread, -1 to leave it unpinned.
    int32_t server_cpu;
} cbaseline_params;

/// One run's outcome.
typedef struct {
    /// Round trips completed in the timed phase (a pong the client received and checked).
    uint64_t round_trips;
    /// Length of the timed phase on the client's monotonic clock, in nanoseconds.
    uint64_t elapsed_ns;
    /// UDP: how often the client heard nothing for a while and assumed its window lost
    /// (loopback drops datagrams only when a receive buffer overflows; 0 is the norm).
    uint64_t recoveries;
    /// 0 on success; otherwise an errno value, or -1 for a protocol or limit failure.
    int32_t error;
    /// What failed, as text, when error != 0.
    char message[160];
} cbaseline_result;

/// UDP ping-pong over 127.0.0.1. Returns result->error.
int cbaseline_udp_ping_pong(const cbaseline_params *params, cbaseline_result *result);

/// TCP framed ping-pong over 127.0.0.1 (4-byte big-endian length, then the body). Returns result->error.
int cbaseline_tcp_ping_pong(const cbaseline_params *params, cbaseline_result *result);

/// Pins the calling thread to `cpu`. Returns 0, or an errno value.
int cbaseline_pin_current_thread(int32_t cpu);

/// The `index`-th CPU (0-based) this process may run on, or -1 if it may run on fewer.
int32_t cbaseline_allowed_cpu(uint32_t index);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t cbaseline_now_ns(void);

/// Bytes of heap the C allocator has handed out and not got back (glibc `mallinfo2`: in-use
/// chunks plus mmapped blocks), for the memory benchmark.
uint64_t cbaseline_heap_bytes_in_use(void);

#endif
