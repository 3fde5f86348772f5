"""The in-session relay of the AgentCore channel: shipped into the session and run there. STDLIB ONLY.

This file never runs in the gateway: the AgentCore backend reads its text, writes it into the
code-interpreter session (`writeFiles`) next to the `bridge` package, and runs it there as
``python3 -I -S <dir>/relay.py <command> ...`` (CPython >= 3.10, no import of `gateway`).

Commands (``<dir>`` holds ``bridge/``, this file, and the channel's state):

``serve <dir>``
    Started once with ``startCommandExecution``. Makes ``<dir>/in.fifo``, starts the bridge runner
    with its stdout going to ``<dir>/out.bin`` (append-only: the runner -> host byte stream) and its
    stderr to ``<dir>/err.log``, copies whatever arrives on the FIFO to the runner's stdin, and
    writes the runner's exit code to ``<dir>/exit`` when it ends. A second ``serve`` exits at once.
``poll <dir> <offset> <wait_ms> <max_bytes>``
    Blocks until ``out.bin`` holds bytes past ``offset``, the runner has exited, or ``wait_ms``
    passes; then waits a moment for a burst to finish (so a `gather` of 100 call frames comes back
    in one reply) and prints one JSON line: ``{"data": <base64 of at most max_bytes from offset>,
    "exit": <code, once the runner has exited and every byte is read>, "stderr": <base64 tail>}``.
    Read-only, so a poll can be retried or abandoned without losing a byte.
``connect <dir> <host> <port>``  (channel option 2: PUBLIC / VPC network mode)
    Started once with ``startCommandExecution`` instead of ``serve``. Reads and deletes
    ``<dir>/token``, connects to the gateway over TLS trusting only ``<dir>/ca.pem`` (the
    gateway's own certificate), sends ``PTC-CONNECT 1 <token>``, then starts the runner and copies
    bytes both ways between the connection and the runner's stdio. Exits with the runner's code.
``push <dir> <seq> <base64>`` / ``push <dir> <seq> @<file>``
    Writes the bytes (inline, or from a file written by ``writeFiles``, then removed) into the FIFO
    under a lock, unless ``seq`` is not above the last applied one: a retried push is applied
    once, so pushes are idempotent. Prints ``ok``, ``dup`` or ``gone`` (the runner has exited).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import fcntl
import json
import os
import ssl
import subprocess
import sys
import threading
import time

POLL_INTERVAL_S = 0.002
SETTLE_S = 0.003
"""After the first new byte, wait until the file stops growing for this long..."""
SETTLE_MAX_S = 0.02
"""...but no longer than this, so a steady trickle still comes back promptly."""
STDERR_TAIL_BYTES = 16 * 1024
EXIT_ALREADY_SERVING = 2
EXIT_USAGE = 64


def _path(directory: str, name: str) -> str:
    return os.path.join(directory, name)


def serve(directory: str) -> int:
    """Run the bridge runner with the FIFO as its stdin and out.bin as its stdout."""
    directory = os.path.abspath(directory)  # the runner runs in a subdirectory
    fifo = _path(directory, "in.fifo")
    try:
        os.mkfifo(fifo, 0o600)
    except FileExistsError:
        return EXIT_ALREADY_SERVING  # a retried startCommandExecution: the first one serves
    work = _path(directory, "work")
    os.makedirs(work, exist_ok=True)
    bootstrap = f"import sys; sys.path.insert(0, {directory!r}); from bridge.runner import main; main()"
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": work}
    with open(_path(directory, "out.bin"), "ab") as out, open(_path(directory, "err.log"), "ab") as err:
        runner = subprocess.Popen(
            [sys.executable, "-I", "-c", bootstrap], stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=work, env=env
        )
    assert runner.stdin is not None
    stdin = runner.stdin.fileno()
    # O_RDWR: the FIFO never reports end of file when a push closes its end.
    source = os.open(fifo, os.O_RDWR)

    def forward() -> None:
        while True:
            data = os.read(source, 1 << 16)
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(stdin, view) :]
            except OSError:
                return  # the runner is gone

    threading.Thread(target=forward, daemon=True).start()
    code = runner.wait()
    tmp = _path(directory, "exit.tmp")
    with open(tmp, "w", encoding="utf-8") as file:
        file.write(str(code))
    os.rename(tmp, _path(directory, "exit"))
    os._exit(0)


def connect(directory: str, host: str, port: int) -> int:
    """Option 2: carry the runner's stdio over a TLS connection back to the gateway."""
    directory = os.path.abspath(directory)
    token_path = _path(directory, "token")
    with open(token_path, encoding="ascii") as file:
        token = file.read().strip()
    os.remove(token_path)  # the model's code never sees it
    return asyncio.run(_connect(directory, host, port, token))


async def _connect(directory: str, host: str, port: int, token: str) -> int:
    context = ssl.create_default_context(cafile=_path(directory, "ca.pem"))  # trusts only the gateway
    reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    writer.write(b"PTC-CONNECT 1 " + token.encode("ascii") + b"\n")
    await writer.drain()
    work = _path(directory, "work")
    os.makedirs(work, exist_ok=True)
    bootstrap = f"import sys; sys.path.insert(0, {directory!r}); from bridge.runner import main; main()"
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": work}
    with open(_path(directory, "err.log"), "ab") as err:  # noqa: ASYNC230 - in the session, before any I/O
        runner = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            bootstrap,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            cwd=work,
            env=env,
        )
    assert runner.stdin is not None and runner.stdout is not None
    runner_in, runner_out = runner.stdin, runner.stdout

    async def up() -> None:  # runner -> gateway
        while data := await runner_out.read(1 << 16):
            writer.write(data)
            await writer.drain()

    async def down() -> None:  # gateway -> runner; the gateway closing is the runner's end of input
        try:
            while data := await reader.read(1 << 16):
                runner_in.write(data)
                await runner_in.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        runner_in.close()

    downstream = asyncio.ensure_future(down())
    try:
        await up()
    except (ConnectionError, ssl.SSLError):
        runner.kill()
    code = await runner.wait()
    downstream.cancel()
    writer.close()
    return code


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _exit_code(directory: str) -> int | None:
    try:
        with open(_path(directory, "exit"), encoding="utf-8") as file:
            return int(file.read().strip() or "-1")
    except FileNotFoundError:
        return None


def poll(directory: str, offset: int, wait_ms: int, max_bytes: int) -> int:
    """Print the runner's output past `offset` once there is some (or it exited, or time is up)."""
    out = _path(directory, "out.bin")
    deadline = time.monotonic() + wait_ms / 1000
    while True:
        code = _exit_code(directory)  # read before the size: once it exists the size is final
        size = _size(out)
        if size > offset or code is not None or time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    if size > offset and code is None:
        settle_until = time.monotonic() + SETTLE_MAX_S
        while time.monotonic() < settle_until:
            time.sleep(SETTLE_S)
            grown = _size(out)
            if grown == size:
                break
            size = grown
    data = b""
    if size > offset:
        with open(out, "rb") as file:
            file.seek(offset)
            data = file.read(min(size - offset, max_bytes))
    reply: dict[str, object] = {"data": base64.b64encode(data).decode("ascii")}
    if code is not None and offset + len(data) >= size:
        reply["exit"] = code
        with open(_path(directory, "err.log"), "rb") as file:
            file.seek(max(0, _size(_path(directory, "err.log")) - STDERR_TAIL_BYTES))
            reply["stderr"] = base64.b64encode(file.read()).decode("ascii")
    sys.stdout.write(json.dumps(reply) + "\n")
    return 0


def push(directory: str, seq: int, payload: str) -> int:
    """Apply push number `seq` (once) by writing its bytes into the FIFO."""
    with open(_path(directory, "push.lock"), "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seq_file = _path(directory, "push.seq")
        try:
            with open(seq_file, encoding="utf-8") as file:
                last = int(file.read().strip() or "0")
        except FileNotFoundError:
            last = 0
        if seq <= last:
            sys.stdout.write("dup\n")
            return 0
        if payload.startswith("@"):
            staged = _path(directory, os.path.basename(payload[1:]))
            with open(staged, "rb") as file:
                data = file.read()
            os.remove(staged)
        else:
            data = base64.b64decode(payload)
        if _exit_code(directory) is not None:
            sys.stdout.write("gone\n")
            return 0
        try:
            fd = os.open(_path(directory, "in.fifo"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno in (errno.ENXIO, errno.ENOENT):  # nobody reads it: the server has exited
                sys.stdout.write("gone\n")
                return 0
            raise
        os.set_blocking(fd, True)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        with open(seq_file + ".tmp", "w", encoding="utf-8") as file:
            file.write(str(seq))
        os.rename(seq_file + ".tmp", seq_file)
    sys.stdout.write("ok\n")
    return 0


def main(argv: list[str]) -> int:
    """Dispatch one command (see the module docstring)."""
    match argv:
        case ["serve", directory]:
            return serve(directory)
        case ["poll", directory, offset, wait_ms, max_bytes]:
            return poll(directory, int(offset), int(wait_ms), int(max_bytes))
        case ["connect", directory, host, port]:
            return connect(directory, host, int(port))
        case ["push", directory, seq, payload]:
            return push(directory, int(seq), payload)
        case _:
            sys.stderr.write(
                "usage: relay.py serve DIR | connect DIR HOST PORT | poll DIR OFFSET WAIT_MS MAX_BYTES"
                " | push DIR SEQ DATA\n"
            )
            return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
