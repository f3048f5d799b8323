// UDP ping-pong: the client keeps `window` pings of `payload_size` bytes in flight to an echo
// server; each pong it receives is a round trip and releases one more ping. With batch_max > 1
// both sides move datagrams with recvmmsg/sendmmsg, at most batch_max per call.
//
// Every ping carries the client's epoch in its first 4 bytes. When the client hears nothing for
// CBASELINE_RECOVERY_MS it assumes the window lost (a receive buffer overflowed), starts a new
// epoch and refills the window; pongs of an older epoch are then ignored, so the window never grows.
#define _GNU_SOURCE 1
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/// Receive buffer per datagram: larger than any payload, so a wrong size is seen, not truncated.
#define UDP_RECEIVE_SIZE 2048

/// recvmmsg/sendmmsg vectors, reused by every call of one side.
typedef struct {
    struct mmsghdr headers[CBASELINE_BATCH_MAX];
    struct iovec vectors[CBASELINE_BATCH_MAX];
    struct sockaddr_in peers[CBASELINE_BATCH_MAX];
    uint8_t buffers[CBASELINE_BATCH_MAX][UDP_RECEIVE_SIZE];
} udp_batch;

typedef struct {
    run_shared *shared;
    int fd;
    int epoll_fd;
    uint32_t epoch;
    uint64_t in_flight;
    uint64_t completed;
    bool sending;
    uint8_t ping[CBASELINE_PAYLOAD_SIZE_MAX];
    udp_batch batch;
} udp_side;

/// Points the first `count` headers at the receive buffers (and peer addresses, if wanted).
static void batch_reset(udp_batch *batch, uint32_t count, bool with_peers) {
    for (uint32_t i = 0; i < count; i++) {
        batch->vectors[i] = (struct iovec){.iov_base = batch->buffers[i], .iov_len = UDP_RECEIVE_SIZE};
        batch->headers[i].msg_hdr = (struct msghdr){
            .msg_name = with_peers ? &batch->peers[i] : NULL,
            .msg_namelen = with_peers ? sizeof batch->peers[i] : 0,
            .msg_iov = &batch->vectors[i],
            .msg_iovlen = 1,
        };
    }
}

static bool is_would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

// MARK: client

static bool client_accept_pong(udp_side *client, const uint8_t *data, size_t length) {
    run_shared *shared = client->shared;
    if (length != shared->params->payload_size) return fail_protocol(&shared->client_error, "pong of unexpected size");
    uint32_t epoch;
    memcpy(&epoch, data, sizeof epoch);
    if (epoch != client->epoch) return true;  // a late pong of a window given up for lost
    if (client->in_flight == 0) return fail_protocol(&shared->client_error, "more pongs than pings");
    client->in_flight--;
    client->completed++;
    return true;
}

/// Reads pongs until the socket is drained.
static bool client_receive(udp_side *client) {
    const cbaseline_params *params = client->shared->params;
    side_error *error = &client->shared->client_error;
    for (;;) {
        if (params->batch_max == 1) {
            ssize_t length = recv(client->fd, client->batch.buffers[0], UDP_RECEIVE_SIZE, 0);
            if (length < 0) return is_would_block() ? true : errno == EINTR || fail_errno(error, "recv");
            if (!client_accept_pong(client, client->batch.buffers[0], (size_t)length)) return false;
        } else {
            batch_reset(&client->batch, params->batch_max, false);
            int count = recvmmsg(client->fd, client->batch.headers, params->batch_max, MSG_DONTWAIT, NULL);
            if (count < 0) return is_would_block() ? true : errno == EINTR || fail_errno(error, "recvmmsg");
            for (int i = 0; i < count; i++) {
                if (!client_accept_pong(client, client->batch.buffers[i], client->batch.headers[i].msg_len)) return false;
            }
            if ((uint32_t)count < params->batch_max) return true;  // drained; level-triggered epoll covers a race
        }
    }
}

/// Pings the client may still send: up to the window, and never past round_trips_max.
static uint64_t client_wanted(const udp_side *client) {
    const cbaseline_params *params = client->shared->params;
    if (!client->sending || client->in_flight >= params->window) return 0;
    uint64_t wanted = params->window - client->in_flight;
    if (params->round_trips_max != 0) {
        uint64_t committed = client->completed + client->in_flight;
        uint64_t remaining = committed < params->round_trips_max ? params->round_trips_max - committed : 0;
        if (remaining < wanted) wanted = remaining;
    }
    return wanted;
}

/// Sends pings until the window is full (a full socket buffer just leaves it for later).
static bool client_refill(udp_side *client) {
    const cbaseline_params *params = client->shared->params;
    side_error *error = &client->shared->client_error;
    memcpy(client->ping, &client->epoch, sizeof client->epoch);
    uint64_t wanted = client_wanted(client);
    while (wanted > 0) {
        if (params->batch_max == 1) {
            if (send(client->fd, client->ping, params->payload_size, 0) < 0) {
                return is_would_block() || errno == EINTR || fail_errno(error, "send");
            }
            client->in_flight++;
            wanted--;
            continue;
        }
        uint32_t count = wanted < params->batch_max ? (uint32_t)wanted : params->batch_max;
        for (uint32_t i = 0; i < count; i++) {
            client->batch.vectors[i] = (struct iovec){.iov_base = client->ping, .iov_len = params->payload_size};
            client->batch.headers[i].msg_hdr = (struct msghdr){.msg_iov = &client->batch.vectors[i], .msg_iovlen = 1};
        }
        int sent = sendmmsg(client->fd, client->batch.headers, count, 0);
        if (sent < 0) return is_would_block() || errno == EINTR || fail_errno(error, "sendmmsg");
        client->in_flight += (uint64_t)sent;
        wanted -= (uint64_t)sent;
        if ((uint32_t)sent < count) return true;
    }
    return true;
}

/// The timed phase: runs until a stop condition, a failure or the give-up limit.
static void client_run(udp_side *client) {
    run_shared *shared = client->shared;
    const cbaseline_params *params = shared->params;
    struct epoll_event events[4];
    uint64_t start = cbaseline_now_ns(), now = start;
    client->sending = true;
    bool running = client_refill(client);
    while (running) {
        int count = epoll_wait(client->epoll_fd, events, 4, CBASELINE_RECOVERY_MS);
        if (count < 0 && errno != EINTR) running = fail_errno(&shared->client_error, "epoll_wait");
        now = cbaseline_now_ns();
        if (count == 0 && client->in_flight > 0) {
            shared->recoveries++;
            client->epoch++;
            client->in_flight = 0;
        }
        for (int i = 0; running && i < count; i++) {
            if (events[i].data.u64 == CBASELINE_CONTROL_TOKEN) {
                running = fail_protocol(&shared->client_error, "the server failed");
            } else {
                running = client_receive(client);
            }
        }
        uint64_t elapsed = now - start;
        if (params->duration_ns != 0 && elapsed >= params->duration_ns) break;
        if (params->round_trips_max != 0 && client->completed >= params->round_trips_max) break;
        if (elapsed >= params->give_up_ns) running = fail_protocol(&shared->client_error, "gave up: the run took too long");
        if (running) running = client_refill(client);
    }
    shared->elapsed_ns = now - start;
    shared->round_trips = client->completed;
}

static void *udp_client(void *argument) {
    run_shared *shared = argument;
    udp_side *client = shared->client_state;
    side_error *error = &shared->client_error;
    client->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    bool ready = side_pin(shared->params->client_cpu, error)
        && (client->epoll_fd >= 0 || fail_errno(error, "epoll_create1"))
        && watch_readable(client->epoll_fd, client->fd, 0, error)
        && watch_readable(client->epoll_fd, shared->abort_fd, CBASELINE_CONTROL_TOKEN, error);
    if (side_start(shared, true, ready)) {
        client_run(client);
        signal_eventfd(shared->stop_fd);
    }
    if (client->epoll_fd >= 0) close(client->epoll_fd);
    return NULL;
}

// MARK: server

/// Echoes every datagram waiting on the socket back to its sender.
static bool server_echo(udp_side *server) {
    const cbaseline_params *params = server->shared->params;
    side_error *error = &server->shared->server_error;
    udp_batch *batch = &server->batch;
    for (;;) {
        if (params->batch_max == 1) {
            socklen_t peer_length = sizeof batch->peers[0];
            ssize_t length = recvfrom(server->fd, batch->buffers[0], UDP_RECEIVE_SIZE, 0,
                                      (struct sockaddr *)&batch->peers[0], &peer_length);
            if (length < 0) return is_would_block() ? true : errno == EINTR || fail_errno(error, "recvfrom");
            // A full send buffer drops the pong, as the network would; the client recovers.
            if (sendto(server->fd, batch->buffers[0], (size_t)length, 0, (struct sockaddr *)&batch->peers[0], peer_length) < 0
                && !is_would_block() && errno != EINTR) {
                return fail_errno(error, "sendto");
            }
            continue;
        }
        batch_reset(batch, params->batch_max, true);
        int count = recvmmsg(server->fd, batch->headers, params->batch_max, MSG_DONTWAIT, NULL);
        if (count < 0) return is_would_block() ? true : errno == EINTR || fail_errno(error, "recvmmsg");
        for (int i = 0; i < count; i++) batch->vectors[i].iov_len = batch->headers[i].msg_len;
        for (int offset = 0; offset < count;) {
            int sent = sendmmsg(server->fd, batch->headers + offset, (unsigned)(count - offset), 0);
            if (sent < 0) {
                if (is_would_block()) break;  // dropped, as above
                if (errno == EINTR) continue;
                return fail_errno(error, "sendmmsg");
            }
            offset += sent;
        }
        if ((uint32_t)count < params->batch_max) return true;
    }
}

static void server_run(udp_side *server) {
    run_shared *shared = server->shared;
    struct epoll_event events[4];
    for (;;) {
        int count = epoll_wait(server->epoll_fd, events, 4, -1);
        if (count < 0 && errno != EINTR) {
            fail_errno(&shared->server_error, "epoll_wait");
            return;
        }
        for (int i = 0; i < count; i++) {
            if (events[i].data.u64 == CBASELINE_CONTROL_TOKEN) return;
            if (!server_echo(server)) return;
        }
    }
}

static void *udp_server(void *argument) {
    run_shared *shared = argument;
    udp_side *server = shared->server_state;
    side_error *error = &shared->server_error;
    server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    bool ready = side_pin(shared->params->server_cpu, error)
        && (server->epoll_fd >= 0 || fail_errno(error, "epoll_create1"))
        && watch_readable(server->epoll_fd, server->fd, 0, error)
        && watch_readable(server->epoll_fd, shared->stop_fd, CBASELINE_CONTROL_TOKEN, error);
    if (side_start(shared, false, ready)) {
        server_run(server);
        if (shared->server_error.code != 0) signal_eventfd(shared->abort_fd);
    }
    if (server->epoll_fd >= 0) close(server->epoll_fd);
    return NULL;
}

// MARK: entry point

/// Opens the server socket on 127.0.0.1 (any port) and a client socket connected to it.
static int open_sockets(int *server_fd, int *client_fd, cbaseline_result *result) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    *server_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*server_fd < 0) return setup_failed(result, "socket(server)");
    if (bind(*server_fd, (struct sockaddr *)&address, sizeof address) != 0) return setup_failed(result, "bind");
    if (getsockname(*server_fd, (struct sockaddr *)&address, &length) != 0) return setup_failed(result, "getsockname");
    *client_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*client_fd < 0) return setup_failed(result, "socket(client)");
    if (connect(*client_fd, (struct sockaddr *)&address, sizeof address) != 0) return setup_failed(result, "connect");
    return 0;
}

int cbaseline_udp_ping_pong(const cbaseline_params *params, cbaseline_result *result) {
    if (!check_params(params, result)) return result->error;
    if (params->window < 1 || params->window > CBASELINE_WINDOW_MAX || params->batch_max < 1
        || params->batch_max > CBASELINE_BATCH_MAX) {
        result->error = -1;
        strcpy(result->message, "invalid parameters: window or batch_max out of range");
        return result->error;
    }
    int server_fd = -1, client_fd = -1;
    udp_side *client = calloc(1, sizeof *client);
    udp_side *server = calloc(1, sizeof *server);
    if (client == NULL || server == NULL) {
        setup_failed(result, "calloc");
    } else if (open_sockets(&server_fd, &client_fd, result) == 0) {
        run_shared shared = {.params = params, .client_state = client, .server_state = server};
        client->shared = server->shared = &shared;
        client->fd = client_fd;
        server->fd = server_fd;
        client->epoll_fd = server->epoll_fd = -1;
        memset(client->ping, 0xA5, sizeof client->ping);
        run_pair(&shared, udp_client, udp_server, result);
    }
    if (client_fd >= 0) close(client_fd);
    if (server_fd >= 0) close(server_fd);
    free(client);
    free(server);
    return result->error;
}
