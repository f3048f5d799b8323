// The only translation unit that sees _GNU_SOURCE: forwarding functions for GNU-only calls.
// No logic: each function is one libc call.
#define _GNU_SOURCE 1
#include <sys/socket.h>
#include "CEpoll.h"

_Static_assert(sizeof(cepoll_mmsghdr) == sizeof(struct mmsghdr), "cepoll_mmsghdr must match struct mmsghdr");
_Static_assert(
    __builtin_offsetof(cepoll_mmsghdr, msg_len) == __builtin_offsetof(struct mmsghdr, msg_len),
    "cepoll_mmsghdr.msg_len must match struct mmsghdr");

int cepoll_accept4(int fd, struct sockaddr *address, socklen_t *addressLength, int flags) {
    return accept4(fd, address, addressLength, flags);
}

int cepoll_recvmmsg(int fd, cepoll_mmsghdr *vector, unsigned int length, int flags, struct timespec *timeout) {
    return recvmmsg(fd, (struct mmsghdr *)vector, length, flags, timeout);
}

int cepoll_sendmmsg(int fd, cepoll_mmsghdr *vector, unsigned int length, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)vector, length, flags);
}
