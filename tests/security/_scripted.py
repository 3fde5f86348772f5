"""A sandbox whose "runner" is a script: it answers the job with bytes the test chose.

For forging what a hostile runner could send (any frame, with the execution's real nonce) without
a container or a child process. A test double of the sandbox seam, never a default backend.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from bridge.protocol import FrameDecoder
from gateway.sandbox import BaseSandbox, BaseSandboxBackend, SandboxInfo

Script = Callable[[str], "bytes | list[bytes]"]
"""Given the execution's nonce, what the runner writes to its protocol output. A list is played one
part at a time: before each part after the first, the sandbox waits for one more `result` frame."""

CHUNK_BYTES = 65536


class ScriptedSandbox(BaseSandbox):
    """Plays `script` once the job frame arrives, in chunks, then ends its output."""

    def __init__(self, script: Script, number: int) -> None:
        self.info = SandboxInfo(backend="scripted", id=f"scripted-{number}", start="cold", start_duration_s=0.0)
        self._script = script
        self._decoder = FrameDecoder(max_frame_bytes=1 << 30)
        self._parts: list[bytes] = []
        self._part = 0
        self._position = 0
        self._changed = anyio.Event()
        self._job = False
        self.sent: list[dict[str, object]] = []
        """Every frame the host sent (the job, then results)."""
        self.results = 0
        self.closed = False

    async def send(self, data: bytes) -> None:
        for nonce, message in self._decoder.feed(data):
            self.sent.append(message)
            if message.get("type") == "job":
                output = self._script(nonce)
                self._parts = [output] if isinstance(output, bytes) else list(output)
                self._job = True
            elif message.get("type") == "result":
                self.results += 1
            self._changed.set()

    async def receive(self, max_bytes: int = CHUNK_BYTES) -> bytes:
        while True:
            if self._job and self._part < len(self._parts):
                part = self._parts[self._part]
                if self._position < len(part):
                    chunk = part[self._position : self._position + max_bytes]
                    self._position += len(chunk)
                    return chunk
                if self._part + 1 < len(self._parts) and self.results >= self._part + 1:
                    self._part, self._position = self._part + 1, 0
                    continue
                if self._part + 1 >= len(self._parts):
                    raise anyio.EndOfStream
            await self._changed.wait()
            self._changed = anyio.Event()

    async def diagnostics(self) -> str:
        return ""

    async def exit_status(self) -> int | None:
        return 0

    async def aclose(self) -> None:
        self.closed = True


class ScriptedBackend(BaseSandboxBackend):
    """Hands out a `ScriptedSandbox` running `script` for every execution."""

    name = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sandboxes: list[ScriptedSandbox] = []

    async def acquire(self) -> BaseSandbox:
        sandbox = ScriptedSandbox(self.script, len(self.sandboxes))
        self.sandboxes.append(sandbox)
        return sandbox

    async def aclose(self) -> None:
        return None
