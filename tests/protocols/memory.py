"""An in-memory Channel: a scripted client for wire-transcript tests of protocol sessions.

It is the real Channel interface over bytes in memory, not a mock of any behaviour: the
session under test reads what the script sends and everything it writes is recorded.
"""

import ssl

from securemail.net.conn import ConnectionClosed


class MemoryChannel:
    def __init__(self, script: bytes, *, is_tls: bool = False, peer_ip: str = "192.0.2.1"):
        self._input = bytearray(script)
        self.output = bytearray()
        self.is_tls = is_tls
        self.peer_ip = peer_ip
        self.tls_started = 0
        self.closed = False

    async def read_line(self, limit: int, timeout: float) -> tuple[bytes, bool]:
        if not self._input:
            raise ConnectionClosed
        end = self._input.find(b"\n")
        end = len(self._input) if end < 0 else end + 1
        line = bytes(self._input[:end])
        del self._input[:end]
        return line, len(line) > limit

    async def write(self, data: bytes) -> None:
        self.output += data

    async def start_tls(self, context: ssl.SSLContext) -> None:
        self.is_tls = True
        self.tls_started += 1

    async def close(self) -> None:
        self.closed = True

    def replies(self) -> list[str]:
        """The server's replies, one string per reply line."""
        return self.output.decode("utf-8", "replace").split("\r\n")[:-1]

    def codes(self) -> list[int]:
        """The final line's code of each reply (continuation lines folded in)."""
        return [int(line[:3]) for line in self.replies() if line[3:4] != "-"]

    def finals(self) -> list[str]:
        """The last line of each reply (what a client acts on)."""
        return [line for line in self.replies() if line[3:4] != "-"]
