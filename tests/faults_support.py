"""Servers a fault test owns and breaks: a private redis-server and a TCP proxy it can cut.

Never the shared PostgreSQL or Redis: other test runs use them. A redis-server of the test's
own can be killed, paused (SIGSTOP: it accepts connections and never answers, like a hung
server) and started again on the same port; the proxy stands in front of a shared server
and refuses (``down``) or forwards (``up``) new connections, cutting the live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import unavailable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of this test's own, on a free port. Without ``persist_dir`` it keeps
    nothing; with it, its data survives ``kill -9`` (append-only file, fsync always)."""

    def __init__(self, port: int | None = None, *, persist_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.persist_dir = persist_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again on the same port) and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", "the binary is not on PATH")
        persistence = ["--appendonly", "no"]
        if self.persist_dir is not None:
            persistence = ["--appendonly", "yes", "--appendfsync", "always",
                           "--dir", str(self.persist_dir)]  # fmt: skip
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60  # generous: a busy two-core machine
        while not self._answers_ping():
            assert self.process.poll() is None, "the private redis-server exited"
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.02)

    def _answers_ping(self) -> bool:
        """PONG, not just an open port: a server still loading its data answers -LOADING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """Hang the server: connections are accepted by the kernel, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause`: the server answers again, with the data it held."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``down()`` cuts every connection and
    refuses new ones until ``up()``. Runs on the test's event loop."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepting = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        #: Connections accepted while up.
        self.connections = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def down(self) -> None:
        self.accepting = False
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()

    def up(self) -> None:
        self.accepting = True

    async def close(self) -> None:
        self.down()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
