// CEpoll: only what Swift cannot import from Glibc on its own.
//
// Glibc's Swift module does not include the epoll/eventfd/timerfd headers, and it is built without
// _GNU_SOURCE, so accept4, recvmmsg, sendmmsg and struct mmsghdr are invisible to Swift. This header
// must NOT define _GNU_SOURCE (that changes glibc struct layouts and breaks the Glibc module); the
// GNU-only calls are declared here with our own prototypes and forwarded in shim.c, which does.
// No logic lives here: every function is one libc call or one macro, every constant one macro value
// with the type Swift code wants (so Swift needs no casts).
#ifndef CEPOLL_H
#define CEPOLL_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <sys/random.h>

// MARK: - Typed constants

// epoll event bits (EPOLL_EVENTS is a C enum; these are the plain bit values).
static const uint32_t CEPOLL_IN = EPOLLIN;
static const uint32_t CEPOLL_OUT = EPOLLOUT;
static const uint32_t CEPOLL_ERR = EPOLLERR;
static const uint32_t CEPOLL_HUP = EPOLLHUP;
static const uint32_t CEPOLL_RDHUP = EPOLLRDHUP;
static const uint32_t CEPOLL_ET = EPOLLET;
static const uint32_t CEPOLL_ONESHOT = EPOLLONESHOT;

static const int32_t CEPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int32_t CEPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int32_t CEPOLL_CTL_DEL = EPOLL_CTL_DEL;
static const int32_t CEPOLL_CLOEXEC = EPOLL_CLOEXEC;

static const int32_t CEPOLL_EFD_NONBLOCK_CLOEXEC = EFD_NONBLOCK | EFD_CLOEXEC;
static const int32_t CEPOLL_TFD_NONBLOCK_CLOEXEC = TFD_NONBLOCK | TFD_CLOEXEC;

// Socket types and flags (__socket_type is a C enum in glibc).
static const int32_t CEPOLL_SOCK_STREAM = SOCK_STREAM;
static const int32_t CEPOLL_SOCK_DGRAM = SOCK_DGRAM;
static const int32_t CEPOLL_SOCK_NONBLOCK_CLOEXEC = SOCK_NONBLOCK | SOCK_CLOEXEC;

static const int32_t CEPOLL_IPPROTO_TCP = IPPROTO_TCP;
static const int32_t CEPOLL_IPPROTO_UDP = IPPROTO_UDP;
static const int32_t CEPOLL_IPPROTO_IPV6 = IPPROTO_IPV6;
static const int32_t CEPOLL_TCP_NODELAY = TCP_NODELAY;
static const int32_t CEPOLL_IPV6_V6ONLY = IPV6_V6ONLY;

static const int32_t CEPOLL_MSG_NOSIGNAL = MSG_NOSIGNAL;
static const int32_t CEPOLL_MSG_DONTWAIT = MSG_DONTWAIT;
static const int32_t CEPOLL_MSG_TRUNC = MSG_TRUNC;
static const int32_t CEPOLL_SHUT_RD = SHUT_RD;
static const int32_t CEPOLL_SHUT_WR = SHUT_WR;
static const int32_t CEPOLL_SHUT_RDWR = SHUT_RDWR;

static const int32_t CEPOLL_AF_INET = AF_INET;
static const int32_t CEPOLL_AF_INET6 = AF_INET6;
static const int32_t CEPOLL_INET6_ADDRSTRLEN = INET6_ADDRSTRLEN;

// MARK: - GNU-only calls (forwarded in shim.c, which alone defines _GNU_SOURCE)

/// Layout-identical to glibc's `struct mmsghdr` (checked by a _Static_assert in shim.c).
typedef struct {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} cepoll_mmsghdr;

int cepoll_accept4(int fd, struct sockaddr *address, socklen_t *addressLength, int flags);
int cepoll_recvmmsg(int fd, cepoll_mmsghdr *vector, unsigned int length, int flags, struct timespec *timeout);
int cepoll_sendmmsg(int fd, cepoll_mmsghdr *vector, unsigned int length, int flags);

// MARK: - epoll_event (packed on x86_64; these keep Swift away from its layout)

static inline void cepoll_event_set(struct epoll_event *event, uint32_t events, uint64_t token) {
    event->events = events;
    event->data.u64 = token;
}

static inline uint64_t cepoll_event_token(const struct epoll_event *event) { return event->data.u64; }

static inline uint32_t cepoll_event_bits(const struct epoll_event *event) { return event->events; }

// MARK: - CMSG macros (function-like macros do not import)

static inline struct cmsghdr *cepoll_cmsg_firsthdr(struct msghdr *message) { return CMSG_FIRSTHDR(message); }

static inline struct cmsghdr *cepoll_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) {
    return CMSG_NXTHDR(message, header);
}

static inline unsigned char *cepoll_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }

static inline size_t cepoll_cmsg_space(size_t length) { return CMSG_SPACE(length); }

static inline size_t cepoll_cmsg_len(size_t length) { return CMSG_LEN(length); }

#endif
