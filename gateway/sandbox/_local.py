"""`LocalProcessBackend`: the runner as a plain subprocess of the gateway. FOR TESTS ONLY.

It is NOT a sandbox and NEVER a security boundary: the code runs as the gateway's user, with the
gateway's filesystem and network. It exists so the executor and the bridge protocol can be
tested fast, without Docker; it is never a default (`SandboxSettings.backend` defaults to
docker). What it does keep from the real backend: an empty environment, a fresh temporary
working directory, a process group killed as a whole on close, and the exact same protocol.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from subprocess import PIPE
from typing import IO

import anyio
from anyio.abc import Process

import bridge
from gateway.config import ExecutionLimits, SandboxSettings
from gateway.errors import SandboxUnavailableError
from gateway.sandbox._base import BaseSandbox, BaseSandboxBackend, SandboxInfo, await_hello

__all__ = ["LocalProcessBackend", "LocalProcessSandbox"]

HELLO_TIMEOUT_S = 30.0
MAX_DIAGNOSTICS_BYTES = 16 * 1024
_BRIDGE_PARENT = str(Path(bridge.__file__).resolve().parent.parent)
_BOOTSTRAP = "import sys; sys.path.insert(0, {path!r}); from bridge.runner import main; main()"


class LocalProcessSandbox(BaseSandbox):
    """One runner subprocess (its own session/process group) in a temporary directory."""

    def __init__(
        self,
        *,
        process: Process,
        workdir: str,
        diagnostics: IO[bytes],
        info: SandboxInfo,
        owner: set[LocalProcessSandbox],
    ) -> None:
        self.info = info
        self._owner = owner
        self._process = process
        self._workdir = workdir
        self._diagnostics = diagnostics
        self._closed = False

    async def send(self, data: bytes) -> None:
        """Write to the runner's stdin."""
        assert self._process.stdin is not None
        await self._process.stdin.send(data)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Next chunk of the runner's stdout."""
        assert self._process.stdout is not None
        return await self._process.stdout.receive(max_bytes)

    async def diagnostics(self) -> str:
        """The runner's stderr (its own failures; user output travels in frames), read in a worker thread."""
        if self._diagnostics.closed:
            return ""
        return await anyio.to_thread.run_sync(_read_diagnostics, self._diagnostics.name)

    async def exit_status(self) -> int | None:
        """The runner's exit code, if it has exited."""
        return self._process.returncode

    async def freeze(self) -> None:
        """Stop the runner's process group (SIGSTOP, delivered asynchronously) while a human is asked."""
        self._signal_group(signal.SIGSTOP)

    async def thaw(self) -> None:
        """Let the runner's process group run again (SIGCONT)."""
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: signal.Signals) -> None:
        if self._closed or self._process.returncode is not None:
            return
        try:
            os.killpg(self._process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    async def aclose(self) -> None:
        """Kill the runner's whole process group, reap it and remove the working directory."""
        if self._closed:
            return
        self._closed = True
        self._owner.discard(self)
        with anyio.CancelScope(shield=True):
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            await self._process.wait()
            await self._process.aclose()
            self._diagnostics.close()
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(self._workdir, ignore_errors=True))


class LocalProcessBackend(BaseSandboxBackend):
    """Runs each execution's runner as a local subprocess. Tests only; not a security boundary.

    Args:
        settings: accepted for symmetry with the other backends (`create_backend`); unused.
        limits: accepted for symmetry; the executor enforces the limits.
        python: the interpreter to run the runner with (default: this one).
    """

    name = "local-process"

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        limits: ExecutionLimits | None = None,
        *,
        python: str = sys.executable,
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.python = python
        self._live: set[LocalProcessSandbox] = set()

    async def acquire(self) -> BaseSandbox:
        """Start a runner and wait for its `hello`."""
        t0 = anyio.current_time()
        workdir = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="ptc-local-"))
        diagnostics = await anyio.to_thread.run_sync(_open_diagnostics, workdir)
        process: Process | None = None
        try:
            with anyio.CancelScope(shield=True):  # a process spawned under cancellation would leak
                process = await anyio.open_process(
                    [self.python, "-I", "-c", _BOOTSTRAP.format(path=_BRIDGE_PARENT)],
                    stdin=PIPE,
                    stdout=PIPE,
                    stderr=diagnostics,
                    cwd=workdir,
                    env={},
                    start_new_session=True,
                )
        except OSError as e:
            diagnostics.close()
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))
            raise SandboxUnavailableError(f"could not start {self.python!r}: {e}") from e
        assert process is not None
        sandbox = LocalProcessSandbox(
            process=process,
            workdir=workdir,
            diagnostics=diagnostics,
            info=SandboxInfo(backend=self.name, id=str(process.pid), start="cold", start_duration_s=0.0),
            owner=self._live,
        )
        self._live.add(sandbox)
        try:
            try:
                with anyio.fail_after(HELLO_TIMEOUT_S):
                    await await_hello(sandbox)
            except TimeoutError:
                raise SandboxUnavailableError(f"the runner did not say hello within {HELLO_TIMEOUT_S:g} s") from None
        except BaseException:
            await sandbox.aclose()
            raise
        sandbox.info = SandboxInfo(
            backend=self.name, id=str(process.pid), start="cold", start_duration_s=anyio.current_time() - t0
        )
        return sandbox

    async def aclose(self) -> None:
        """Kill every runner still running."""
        with anyio.CancelScope(shield=True):
            for sandbox in list(self._live):
                await sandbox.aclose()


def _read_diagnostics(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return file.read(MAX_DIAGNOSTICS_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:  # closed and removed meanwhile
        return ""


def _open_diagnostics(workdir: str) -> IO[bytes]:
    return open(os.path.join(workdir, ".runner-stderr"), "w+b")  # noqa: SIM115 - closed by the sandbox
