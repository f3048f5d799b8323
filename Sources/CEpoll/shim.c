// The only translation unit that sees _GNU_SOURCE: forwarding functions for GNU-only calls.
#define _GNU_SOURCE 1
#include <sys/socket.h>
#include "CEpoll.h"
