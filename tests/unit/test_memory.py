"""`[server] malloc_arenas`: threads started after the cap share that many glibc arenas (the
soak's RSS grew by fragmentation with glibc's default, docs/soak.md)."""

import ctypes
import subprocess
import sys

import pytest

from securemail.memory import limit_malloc_arenas

PROBE = """
import ctypes, os, sys, tempfile, threading
from securemail.memory import limit_malloc_arenas
if sys.argv[1] == "cap":
    assert limit_malloc_arenas(2)
def work():
    for _ in range(100):
        blobs = [bytes(200_000) for _ in range(5)]  # past pymalloc: the thread's malloc arena
        del blobs
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
with tempfile.TemporaryFile() as f:
    out = ctypes.c_void_p(libc.fdopen(os.dup(f.fileno()), b"w"))
    libc.malloc_info(0, out)
    libc.fclose(out)
    f.seek(0)
    print(f.read().decode().count("<heap nr="))
"""


def _glibc() -> bool:
    try:
        libc = ctypes.CDLL(None)
        return sys.platform.startswith("linux") and bool(libc.malloc_info and libc.mallopt)
    except (OSError, AttributeError):
        return False


def _heaps(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not _glibc(), reason="not Linux with glibc")
def test_threads_share_the_capped_arenas() -> None:
    assert _heaps("cap") <= 2
    assert _heaps("default") > 2  # what the cap is for: glibc gives threads arenas of their own


def test_zero_keeps_the_default() -> None:
    assert limit_malloc_arenas(0) is False
