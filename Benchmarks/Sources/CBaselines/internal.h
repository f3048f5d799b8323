// Shared by the baseline implementations; not part of the Swift-visible header.
#ifndef CBASELINES_INTERNAL_H
#define CBASELINES_INTERNAL_H

#include "CBaselines.h"
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/// How long the UDP client waits in silence before it assumes its window lost, in milliseconds.
#define CBASELINE_RECOVERY_MS 50
/// epoll events fetched per epoll_wait.
#define CBASELINE_EVENTS_MAX 256
/// The epoll token of a run's control eventfd (stop or abort); sockets use their index.
#define CBASELINE_CONTROL_TOKEN UINT64_MAX

/// The first failure seen by one side of a run.
typedef struct {
    int32_t code;
    char message[160];
} side_error;

/// State both threads of a run share. Each side writes only its own fields until both are joined.
typedef struct {
    const cbaseline_params *params;
    pthread_barrier_t start;
    /// Written by the client when it is done (or failed): the server leaves its loop.
    int stop_fd;
    /// Written by the server when it failed: the client fails fast instead of timing out.
    int abort_fd;
    side_error client_error;
    side_error server_error;
    /// Whether each side's setup succeeded; read only after the start barrier.
    bool client_ready;
    bool server_ready;
    /// Client results.
    uint64_t round_trips;
    uint64_t elapsed_ns;
    uint64_t recoveries;
    /// Implementation-specific state of each side.
    void *client_state;
    void *server_state;
} run_shared;

/// Records errno as the side's error (keeps the first one). Returns false, for `return fail...`.
bool fail_errno(side_error *error, const char *what);
/// Records a protocol or limit failure (keeps the first one). Returns false.
bool fail_protocol(side_error *error, const char *what);

/// Validates the parameters common to every workload; on failure fills result and returns false.
bool check_params(const cbaseline_params *params, cbaseline_result *result);

/// Creates the control eventfds, runs `client` and `server` on their own pinned threads after a
/// shared start barrier, joins them and copies the outcome into `result`. Returns result->error.
int run_pair(run_shared *shared, void *(*client)(void *), void *(*server)(void *), cbaseline_result *result);

/// Pins the calling thread to `cpu` unless it is -1. False with the error recorded on failure.
bool side_pin(int32_t cpu, side_error *error);

/// Publishes whether this side's setup succeeded and waits at the start barrier. True if both
/// sides are ready; otherwise each side cleans up and returns without running.
bool side_start(run_shared *shared, bool is_client, bool ready);

/// Writes 1 to an eventfd; errors are ignored (the reader is only being woken).
void signal_eventfd(int fd);

/// Registers fd with `token` for EPOLLIN. False with the error recorded on failure.
bool watch_readable(int epoll_fd, int fd, uint64_t token, side_error *error);

/// Sets O_NONBLOCK. False with the error recorded on failure.
bool set_nonblocking(int fd, side_error *error);

/// Fills an error result from a setup failure in the calling (main) thread.
int setup_failed(cbaseline_result *result, const char *what);

#endif
