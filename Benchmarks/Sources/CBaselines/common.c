// Thread pairing, pinning, clock and error plumbing shared by the UDP and TCP baselines.
#define _GNU_SOURCE 1
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

uint64_t cbaseline_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int cbaseline_pin_current_thread(int32_t cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    // pid 0 is the calling thread, not the whole process.
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

int32_t cbaseline_allowed_cpu(uint32_t index) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    uint32_t seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (seen == index) return cpu;
        seen++;
    }
    return -1;
}

bool fail_errno(side_error *error, const char *what) {
    int code = errno;
    if (error->code != 0) return false;
    error->code = code != 0 ? code : -1;
    snprintf(error->message, sizeof error->message, "%s: %s", what, strerror(code));
    return false;
}

bool fail_protocol(side_error *error, const char *what) {
    if (error->code != 0) return false;
    error->code = -1;
    snprintf(error->message, sizeof error->message, "%s", what);
    return false;
}

int setup_failed(cbaseline_result *result, const char *what) {
    side_error error = {0};
    fail_errno(&error, what);
    result->error = error.code;
    memcpy(result->message, error.message, sizeof result->message);
    return result->error;
}

static int invalid(cbaseline_result *result, const char *what) {
    result->error = -1;
    snprintf(result->message, sizeof result->message, "invalid parameters: %s", what);
    return false;
}

bool check_params(const cbaseline_params *params, cbaseline_result *result) {
    memset(result, 0, sizeof *result);
    if (params->payload_size < 4 || params->payload_size > CBASELINE_PAYLOAD_SIZE_MAX)
        return invalid(result, "payload_size outside 4...CBASELINE_PAYLOAD_SIZE_MAX");
    if (params->round_trips_max == 0 && params->duration_ns == 0)
        return invalid(result, "neither round_trips_max nor duration_ns is set");
    if (params->give_up_ns == 0) return invalid(result, "give_up_ns is 0");
    return true;
}

void signal_eventfd(int fd) {
    uint64_t one = 1;
    ssize_t written = write(fd, &one, sizeof one);
    (void)written;
}

bool watch_readable(int epoll_fd, int fd, uint64_t token, side_error *error) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = token};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) return fail_errno(error, "epoll_ctl(ADD)");
    return true;
}

bool set_nonblocking(int fd, side_error *error) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fail_errno(error, "fcntl(O_NONBLOCK)");
    return true;
}

bool side_pin(int32_t cpu, side_error *error) {
    if (cpu < 0) return true;
    int code = cbaseline_pin_current_thread(cpu);
    if (code == 0) return true;
    errno = code;
    return fail_errno(error, "sched_setaffinity");
}

bool side_start(run_shared *shared, bool is_client, bool ready) {
    if (is_client) {
        shared->client_ready = ready;
    } else {
        shared->server_ready = ready;
    }
    // Always reach the barrier, or the other side would wait forever. The barrier also orders
    // the two flags: after it, each side sees the other's.
    pthread_barrier_wait(&shared->start);
    return shared->client_ready && shared->server_ready;
}

static void copy_outcome(const run_shared *shared, cbaseline_result *result) {
    // The server's failure is the root cause when both failed (the client then saw an abort).
    const side_error *error = shared->server_error.code != 0 ? &shared->server_error : &shared->client_error;
    result->round_trips = shared->round_trips;
    result->elapsed_ns = shared->elapsed_ns;
    result->recoveries = shared->recoveries;
    result->error = error->code;
    memcpy(result->message, error->message, sizeof result->message);
}

int run_pair(run_shared *shared, void *(*client)(void *), void *(*server)(void *), cbaseline_result *result) {
    shared->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    shared->abort_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shared->stop_fd < 0 || shared->abort_fd < 0) {
        setup_failed(result, "eventfd");
    } else if (pthread_barrier_init(&shared->start, NULL, 2) != 0) {
        setup_failed(result, "pthread_barrier_init");
    } else {
        pthread_t server_thread, client_thread;
        int code = pthread_create(&server_thread, NULL, server, shared);
        if (code == 0) {
            code = pthread_create(&client_thread, NULL, client, shared);
            if (code == 0) {
                pthread_join(client_thread, NULL);
            } else {
                // The server is (or will be) at the barrier: let it pass, then stop it.
                pthread_barrier_wait(&shared->start);
                signal_eventfd(shared->stop_fd);
            }
            pthread_join(server_thread, NULL);
        }
        pthread_barrier_destroy(&shared->start);
        if (code != 0) {
            errno = code;
            setup_failed(result, "pthread_create");
        } else {
            copy_outcome(shared, result);
        }
    }
    if (shared->stop_fd >= 0) close(shared->stop_fd);
    if (shared->abort_fd >= 0) close(shared->abort_fd);
    return result->error;
}

uint64_t cbaseline_heap_bytes_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}
