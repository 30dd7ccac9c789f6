"""Run `securemail serve` as a real child process and learn its ports from its data dir."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

SECUREMAIL = str(Path(sys.executable).with_name("securemail"))
READY = "securemail ready"


class ServeProcess:
    def __init__(self, env: dict[str, str], data_dir: Path, cwd: Path) -> None:
        self.env = {**os.environ, **env}
        for key in (
            "SMTP_PORT", "SMTP_SUBMISSION_PORT", "SMTP_SUBMISSIONS_PORT", "HTTP_PORT",
            "POP3_PORT", "POP3_TLS_PORT", "IMAP_PORT", "IMAP_TLS_PORT",
        ):  # fmt: skip
            self.env[f"SECUREMAIL_{key}"] = "0"
        self.data_dir = data_dir
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def start(self, timeout: float = 60) -> dict[str, int]:
        """Start and block until the server logs that it is ready; return its ports."""
        self.proc = subprocess.Popen(
            [SECUREMAIL, "serve"],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # blocks on the child's own output: no sleeps
            self.log.append(line)
            if READY in line:
                break
        else:
            raise RuntimeError("serve exited before it was ready:\n" + "".join(self.log))
        ports: dict[str, int] = json.loads((self.data_dir / "run" / "ports.json").read_text())
        return ports

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)
