"""The runner's private protocol channel and the pumps that turn user output into `output` frames.

`take_over_stdio` is the first thing the runner does: it keeps private duplicates of fd 0 and
fd 1 for the protocol, points fd 0 at /dev/null and replaces fd 1 and fd 2 with pipes. From then
on nothing the user code writes (``print``, ``sys.stderr``, ``os.write(1, ...)``, a subprocess)
reaches the host except inside an ``output`` frame built by an `OutputPump`.

Stdlib only; must run on CPython >= 3.10.
"""

from __future__ import annotations

import codecs
import os
import sys
import threading
from typing import Any

from bridge.protocol import HELLO_NONCE, FrameDecoder, encode_frame

__all__ = ["Channel", "OutputPump", "Stdio", "take_over_stdio"]

RUNNER_MAX_FRAME_BYTES = 1 << 30
"""What the runner accepts from the host (a trusted peer); the job carries the stubs of a whole fleet."""

_READ_BYTES = 1 << 16
_OUTPUT_FRAME_OVERHEAD_BYTES = 256
_JSON_ESCAPE_FACTOR = 6
"""Worst case growth of text in a JSON string (a control character becomes ``\\u0000``)."""


class Channel:
    """Frames in on one private fd, frames out on another. `send` is thread-safe."""

    def __init__(self, *, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.nonce = HELLO_NONCE
        self.max_frame_bytes = RUNNER_MAX_FRAME_BYTES
        """The host's limit on frames it receives (from the job); `send_checked` enforces it."""
        self._decoder = FrameDecoder(max_frame_bytes=RUNNER_MAX_FRAME_BYTES, nonce=None)
        self._ready: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def adopt_nonce(self, nonce: str) -> None:
        """Use the job's nonce from now on, in both directions."""
        self.nonce = nonce
        self._decoder.nonce = nonce

    def send(self, message: Any) -> None:
        """Encode and write one frame (blocking; raises OSError when the host is gone)."""
        self.write(encode_frame(self.nonce, message))

    def write(self, frame: bytes) -> None:
        """Write one encoded frame atomically with respect to other threads."""
        view = memoryview(frame)
        with self._lock:
            while view:
                written = os.write(self.write_fd, view)
                view = view[written:]

    def receive(self) -> tuple[str, dict[str, Any]] | None:
        """Block for the next (nonce, message); None at end of input. Raises FrameError.

        Only for the job frame, before `read_available` takes over (the fd is blocking until then).
        """
        while not self._ready:
            data = os.read(self.read_fd, _READ_BYTES)
            if not data:
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    def read_available(self) -> list[tuple[str, dict[str, Any]]] | None:
        """The frames completed by what can be read now without blocking; None at end of input.

        The read fd must be non-blocking (`os.set_blocking(read_fd, False)`). Raises FrameError.
        Not thread-safe: callers serialize it (`bridge._calls.ToolCaller` holds a lock).
        """
        frames, self._ready = self._ready, []
        try:
            data = os.read(self.read_fd, _READ_BYTES)
        except BlockingIOError:
            return frames
        if not data:
            return frames or None  # end of input: report it on the next call if frames came first
        frames.extend(self._decoder.feed(data))
        return frames


class Stdio:
    """The file descriptors `take_over_stdio` set up."""

    def __init__(self, *, channel: Channel, stdout_fd: int, stderr_fd: int, diagnostics_fd: int, null_fd: int) -> None:
        self.channel = channel
        self.stdout_fd = stdout_fd
        """Read end of the pipe that is now fd 1."""
        self.stderr_fd = stderr_fd
        """Read end of the pipe that is now fd 2."""
        self.diagnostics_fd = diagnostics_fd
        """The process's original stderr: for the runner's own fatal errors, never user output."""
        self.null_fd = null_fd
        """`/dev/null` for writing, opened up front: code that used up every descriptor cannot stop the release."""

    def diagnose(self, text: str) -> None:
        """Write a line about the runner itself to the original stderr (best effort)."""
        try:
            os.write(self.diagnostics_fd, f"ptc-runner: {text}\n".encode("utf-8", "replace"))
        except OSError:
            pass

    def release_user_output(self) -> None:
        """Flush the user's streams and detach fd 1 and 2 from the pipes, so the pumps see EOF."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - the code may have closed or replaced the stream with anything
                pass
        os.dup2(self.null_fd, 1)
        os.dup2(self.null_fd, 2)


def take_over_stdio() -> Stdio:
    """Move the protocol to private fds and the user's stdio onto pipes (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # os.dup returns non-inheritable descriptors: subprocesses never get the protocol channel.
    protocol_in = os.dup(0)
    protocol_out = os.dup(1)
    diagnostics = os.dup(2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    stdout_read, stdout_write = os.pipe()
    os.dup2(stdout_write, 1)
    os.close(stdout_write)
    stderr_read, stderr_write = os.pipe()
    os.dup2(stderr_write, 2)
    os.close(stderr_write)
    # Fresh line-buffered text streams on the new fds: prints reach the host as they happen.
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    return Stdio(
        channel=Channel(read_fd=protocol_in, write_fd=protocol_out),
        stdout_fd=stdout_read,
        stderr_fd=stderr_read,
        diagnostics_fd=diagnostics,
        null_fd=os.open(os.devnull, os.O_WRONLY),
    )


class OutputPump(threading.Thread):
    """Reads one user stream's pipe and forwards it as `output` frames, up to a byte cap.

    Past the cap it keeps reading (so the writer never blocks) but only counts what it drops.
    It holds at most one read's worth of bytes.
    """

    def __init__(self, *, channel: Channel, fd: int, stream: str, max_bytes: int) -> None:
        super().__init__(name=f"ptc-{stream}", daemon=True)
        self._channel = channel
        self._fd = fd
        self._stream = stream
        self._max_bytes = max_bytes
        self._chunk_bytes = max(
            64, min(_READ_BYTES, (channel.max_frame_bytes - _OUTPUT_FRAME_OVERHEAD_BYTES) // _JSON_ESCAPE_FACTOR)
        )
        self.forwarded = 0
        self.dropped = 0
        self._host_gone = False

    def run(self) -> None:
        """Pump until every writer has closed the pipe."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                data = os.read(self._fd, self._chunk_bytes)
            except OSError:
                break
            if not data:
                break
            room = self._max_bytes - self.forwarded
            kept = data[: max(room, 0)]
            self.dropped += len(data) - len(kept)
            if kept:
                self.forwarded += len(kept)
                self._forward(decoder.decode(kept))
        self._forward(decoder.decode(b"", True))
        os.close(self._fd)

    def _forward(self, text: str) -> None:
        if not text or self._host_gone:
            return
        try:
            self._channel.send({"type": "output", "stream": self._stream, "data": text})
        except OSError:
            # The host is gone; keep draining so user code never blocks on a full pipe.
            self._host_gone = True
