"""glibc's malloc arenas for `serve`: capped, so worker threads do not fragment memory."""

import ctypes
import sys

# glibc gives each thread that meets a locked arena a new one, up to eight per core; with
# SQLite's connection threads and the default executor, RSS then grows with fragmentation
# (docs/soak.md: 242.6 MiB after 10 minutes of the load soak by default, 171.8 capped at 2).
M_ARENA_MAX = -8  # <malloc.h>


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at `count` for threads started from now on (mallopt
    M_ARENA_MAX); False where it does not apply: `count` 0, or not Linux with glibc."""
    if count <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no libc symbols, or a libc without mallopt (musl)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
