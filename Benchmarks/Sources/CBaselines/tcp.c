// TCP framed ping-pong: `connections` connections, each with one frame in flight. A frame is a
// 4-byte big-endian length followed by `payload_size` bytes; the server echoes every frame, and
// the client checks that each pong equals its ping before sending the next one on that connection.
// Connections are made before the timed phase (connect and accept alternate on the main thread).
#define _GNU_SOURCE 1
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/// Bytes of the length prefix.
#define TCP_HEADER_SIZE 4
/// Receive buffer per connection: room for a whole frame behind any partial one.
#define TCP_RECEIVE_SIZE (4 * (TCP_HEADER_SIZE + CBASELINE_PAYLOAD_SIZE_MAX))

typedef struct {
    int fd;
    uint32_t fill;
    uint8_t buffer[TCP_RECEIVE_SIZE];
} tcp_connection;

typedef struct tcp_side tcp_side;
/// Handles one complete frame (header included) received on `connection`.
typedef bool (*frame_handler)(tcp_side *side, tcp_connection *connection, const uint8_t *frame, uint32_t size);

struct tcp_side {
    run_shared *shared;
    side_error *error;
    int epoll_fd;
    tcp_connection *connections;
    uint64_t in_flight;
    uint64_t completed;
    uint8_t frame[TCP_HEADER_SIZE + CBASELINE_PAYLOAD_SIZE_MAX];
};

static uint32_t frame_size(const cbaseline_params *params) { return TCP_HEADER_SIZE + params->payload_size; }

/// Writes one whole frame. With one frame in flight per connection the send buffer is empty, so
/// a short write cannot happen in this workload; it is reported rather than buffered.
static bool send_frame(tcp_side *side, int fd, const uint8_t *frame, uint32_t size) {
    ssize_t written = send(fd, frame, size, MSG_NOSIGNAL);
    if (written < 0) return fail_errno(side->error, "send");
    if ((uint32_t)written != size) return fail_protocol(side->error, "short write of a frame");
    return true;
}

/// Reads what the connection has and hands every complete frame to `handle`. A read that fills
/// less than the space offered has drained the socket, so it is not followed by one that would
/// only return EAGAIN (epoll is level-triggered: anything arriving later is reported again).
static bool receive_frames(tcp_side *side, tcp_connection *connection, frame_handler handle) {
    const uint32_t payload_size = side->shared->params->payload_size;
    for (;;) {
        size_t space = sizeof connection->buffer - connection->fill;
        ssize_t length = recv(connection->fd, connection->buffer + connection->fill, space, 0);
        if (length == 0) return fail_protocol(side->error, "the peer closed a connection");
        if (length < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
            return fail_errno(side->error, "recv");
        }
        connection->fill += (uint32_t)length;
        uint32_t offset = 0;
        while (connection->fill - offset >= TCP_HEADER_SIZE) {
            uint32_t body;
            memcpy(&body, connection->buffer + offset, sizeof body);
            if (ntohl(body) != payload_size) return fail_protocol(side->error, "frame of unexpected length");
            if (connection->fill - offset < TCP_HEADER_SIZE + payload_size) break;
            if (!handle(side, connection, connection->buffer + offset, TCP_HEADER_SIZE + payload_size)) return false;
            offset += TCP_HEADER_SIZE + payload_size;
        }
        memmove(connection->buffer, connection->buffer + offset, connection->fill - offset);
        connection->fill -= offset;
        if ((size_t)length < space) return true;
    }
}

/// Creates the side's epoll instance and registers its connections and its control eventfd.
static bool side_watch(tcp_side *side, int control_fd) {
    side->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (side->epoll_fd < 0) return fail_errno(side->error, "epoll_create1");
    for (uint32_t i = 0; i < side->shared->params->connections; i++) {
        if (!watch_readable(side->epoll_fd, side->connections[i].fd, i, side->error)) return false;
    }
    return watch_readable(side->epoll_fd, control_fd, CBASELINE_CONTROL_TOKEN, side->error);
}

// MARK: client

static bool client_may_send(const tcp_side *client) {
    uint64_t limit = client->shared->params->round_trips_max;
    return limit == 0 || client->completed + client->in_flight < limit;
}

static bool client_handle_pong(tcp_side *client, tcp_connection *connection, const uint8_t *frame, uint32_t size) {
    if (memcmp(frame, client->frame, size) != 0) return fail_protocol(client->error, "a pong differs from its ping");
    client->in_flight--;
    client->completed++;
    if (!client_may_send(client)) return true;
    client->in_flight++;
    return send_frame(client, connection->fd, client->frame, size);
}

/// The timed phase: runs until a stop condition, a failure or the give-up limit.
static void client_run(tcp_side *client) {
    run_shared *shared = client->shared;
    const cbaseline_params *params = shared->params;
    struct epoll_event events[CBASELINE_EVENTS_MAX];
    uint64_t start = cbaseline_now_ns(), now = start;
    bool running = true;
    for (uint32_t i = 0; running && i < params->connections && client_may_send(client); i++) {
        client->in_flight++;
        running = send_frame(client, client->connections[i].fd, client->frame, frame_size(params));
    }
    while (running) {
        int count = epoll_wait(client->epoll_fd, events, CBASELINE_EVENTS_MAX, CBASELINE_RECOVERY_MS);
        if (count < 0 && errno != EINTR) running = fail_errno(client->error, "epoll_wait");
        for (int i = 0; running && i < count; i++) {
            uint64_t token = events[i].data.u64;
            if (token == CBASELINE_CONTROL_TOKEN) {
                running = fail_protocol(client->error, "the server failed");
            } else {
                running = receive_frames(client, &client->connections[token], client_handle_pong);
            }
        }
        now = cbaseline_now_ns();
        uint64_t elapsed = now - start;
        if (params->duration_ns != 0 && elapsed >= params->duration_ns) break;
        if (params->round_trips_max != 0 && client->completed >= params->round_trips_max) break;
        if (elapsed >= params->give_up_ns) running = fail_protocol(client->error, "gave up: the run took too long");
    }
    shared->elapsed_ns = now - start;
    shared->round_trips = client->completed;
}

static void *tcp_client(void *argument) {
    run_shared *shared = argument;
    tcp_side *client = shared->client_state;
    bool ready = side_pin(shared->params->client_cpu, client->error) && side_watch(client, shared->abort_fd);
    if (side_start(shared, true, ready)) {
        client_run(client);
        signal_eventfd(shared->stop_fd);
    }
    return NULL;
}

// MARK: server

static bool server_echo(tcp_side *server, tcp_connection *connection, const uint8_t *frame, uint32_t size) {
    return send_frame(server, connection->fd, frame, size);
}

static void server_run(tcp_side *server) {
    struct epoll_event events[CBASELINE_EVENTS_MAX];
    for (;;) {
        int count = epoll_wait(server->epoll_fd, events, CBASELINE_EVENTS_MAX, -1);
        if (count < 0 && errno != EINTR) {
            fail_errno(server->error, "epoll_wait");
            return;
        }
        for (int i = 0; i < count; i++) {
            uint64_t token = events[i].data.u64;
            if (token == CBASELINE_CONTROL_TOKEN) return;
            if (!receive_frames(server, &server->connections[token], server_echo)) return;
        }
    }
}

static void *tcp_server(void *argument) {
    run_shared *shared = argument;
    tcp_side *server = shared->server_state;
    bool ready = side_pin(shared->params->server_cpu, server->error) && side_watch(server, shared->stop_fd);
    if (side_start(shared, false, ready)) {
        server_run(server);
        if (server->error->code != 0) signal_eventfd(shared->abort_fd);
    }
    return NULL;
}

// MARK: entry point

static int open_listener(struct sockaddr_in *address, cbaseline_result *result) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return setup_failed(result, "socket(listener)"), -1;
    socklen_t length = sizeof *address;
    *address = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)address, sizeof *address) != 0 || listen(fd, SOMAXCONN) != 0
        || getsockname(fd, (struct sockaddr *)address, &length) != 0) {
        setup_failed(result, "bind/listen(listener)");
        close(fd);
        return -1;
    }
    return fd;
}

/// Makes connection `index`: connect (blocking), accept, then both non-blocking with TCP_NODELAY.
static bool connect_pair(int listener, const struct sockaddr_in *address, tcp_connection *client,
                         tcp_connection *server, cbaseline_result *result) {
    int one = 1;
    side_error error = {0};
    client->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client->fd < 0) return setup_failed(result, "socket(client)"), false;
    if (connect(client->fd, (const struct sockaddr *)address, sizeof *address) != 0) return setup_failed(result, "connect"), false;
    server->fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (server->fd < 0) return setup_failed(result, "accept4"), false;
    if (setsockopt(client->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0
        || setsockopt(server->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        return setup_failed(result, "setsockopt(TCP_NODELAY)"), false;
    }
    if (!set_nonblocking(client->fd, &error)) return setup_failed(result, "fcntl(O_NONBLOCK)"), false;
    return true;
}

/// Closes every connection; the client side with a zero linger (a reset), so repeated runs leave
/// no TIME_WAIT sockets behind.
static void close_connections(tcp_connection *clients, tcp_connection *servers, uint32_t count) {
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    for (uint32_t i = 0; i < count; i++) {
        if (clients[i].fd >= 0) {
            setsockopt(clients[i].fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
            close(clients[i].fd);
        }
        if (servers[i].fd >= 0) close(servers[i].fd);
    }
}

static void run_connected(const cbaseline_params *params, tcp_connection *clients, tcp_connection *servers,
                          cbaseline_result *result) {
    run_shared shared = {.params = params};
    tcp_side *client = calloc(1, sizeof *client);
    tcp_side *server = calloc(1, sizeof *server);
    if (client == NULL || server == NULL) {
        setup_failed(result, "calloc");
    } else {
        *client = (tcp_side){.shared = &shared, .error = &shared.client_error, .epoll_fd = -1, .connections = clients};
        *server = (tcp_side){.shared = &shared, .error = &shared.server_error, .epoll_fd = -1, .connections = servers};
        uint32_t body = htonl(params->payload_size);
        memcpy(client->frame, &body, sizeof body);
        for (uint32_t i = 0; i < params->payload_size; i++) client->frame[TCP_HEADER_SIZE + i] = (uint8_t)(i * 7 + 1);
        shared.client_state = client;
        shared.server_state = server;
        run_pair(&shared, tcp_client, tcp_server, result);
        if (client->epoll_fd >= 0) close(client->epoll_fd);
        if (server->epoll_fd >= 0) close(server->epoll_fd);
    }
    free(client);
    free(server);
}

int cbaseline_tcp_ping_pong(const cbaseline_params *params, cbaseline_result *result) {
    if (!check_params(params, result)) return result->error;
    if (params->connections < 1 || params->connections > CBASELINE_CONNECTIONS_MAX) {
        result->error = -1;
        strcpy(result->message, "invalid parameters: connections out of range");
        return result->error;
    }
    struct sockaddr_in address;
    tcp_connection *clients = calloc(params->connections, sizeof *clients);
    tcp_connection *servers = calloc(params->connections, sizeof *servers);
    int listener = -1;
    uint32_t made = 0;
    if (clients == NULL || servers == NULL) {
        setup_failed(result, "calloc");
    } else if ((listener = open_listener(&address, result)) >= 0) {
        bool connected = true;
        for (; connected && made < params->connections; made++) {
            clients[made].fd = servers[made].fd = -1;
            connected = connect_pair(listener, &address, &clients[made], &servers[made], result);
        }
        if (connected) run_connected(params, clients, servers, result);
        close_connections(clients, servers, made);
        close(listener);
    }
    free(clients);
    free(servers);
    return result->error;
}
