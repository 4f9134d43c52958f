"""moto's server in a process of its own: `cashmob local`'s default
(CASHMOB_LOCAL_MOTO_PROCESS=0 keeps it in the stack's process). Measured
side by side, a 500-backer `cashmob demo` (both variants) took 91 s with
moto in its own process against 137 s in the stack's (pledging 14.2/s
against 8.6/s), on this 2-core machine under the same load.

The functions reach moto over HTTP whether it runs in their process or not;
in its own process it has its own interpreter lock, so moto's work (parsing,
DynamoDB expressions, serialising answers) runs beside the functions' on
another core instead of taking turns with them. The child ends when the
parent closes its stdin: on `shutdown()`, and when the parent dies however it
dies.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from typing import IO


class MotoProcess:
    """A running moto server process; `server_port` and `shutdown()` as a
    werkzeug server has them."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.server_port = port

    def shutdown(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the child's cue to end
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(host: str = "127.0.0.1", timeout: float = 60.0) -> MotoProcess:
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
        [sys.executable, "-m", "cashmob_local.moto_process", host],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = _readline(process.stdout, timeout)
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"cashmob local: moto did not start (it said {line!r})")
    process.stdout.close()
    return MotoProcess(process, int(line))


def _readline(stream: IO[bytes], timeout: float) -> str:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0].decode() if got else ""


def main(argv: list[str]) -> None:
    from . import moto_profile
    from .stack import serve_moto

    finish_profile = moto_profile.start_from_env()  # CASHMOB_LOCAL_MOTO_PROFILE=file
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = serve_moto(argv[0] if argv else "127.0.0.1", 0)
    sys.stdout.write(f"{server.server_port}\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # anything moto prints from now on goes where the parent's errors go
    sys.stdin.buffer.read()  # until the parent closes it, or dies
    finish_profile()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
