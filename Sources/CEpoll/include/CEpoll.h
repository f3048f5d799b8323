// CEpoll: only what Swift cannot import from Glibc on its own.
//
// Glibc's Swift module does not include the epoll/eventfd/timerfd headers, and it is built without
// _GNU_SOURCE, so accept4, recvmmsg, sendmmsg and struct mmsghdr are invisible to Swift. This header
// must NOT define _GNU_SOURCE (that changes glibc struct layouts and breaks the Glibc module); the
// GNU-only calls are declared here with our own prototypes and forwarded in shim.c, which does.
// No logic lives here: every function is one libc call or one macro.
#ifndef CEPOLL_H
#define CEPOLL_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <sys/random.h>

#endif
