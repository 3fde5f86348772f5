"""Issue 14, item 1: socket buffers must not pin unbounded host kernel memory.

On cgroup v1 hosts the kernel does not charge socket buffers to the container's memory cgroup, so
a program that opens many loopback TCP pairs and fills them pinned 1.43 to 1.51 GiB of host memory (the
host's `/proc/net/sockstat` "TCP: mem", counted in pages) while its cgroup showed a few MiB. The
sandbox now refuses AF_INET/AF_INET6 sockets by default (seccomp), and when they are allowed, the
container's own TCP sysctls cap buffer autotuning and seccomp refuses `SO_SNDBUF`/`SO_RCVBUF`.

The program holds its full sockets while it calls a tool; during that call the test reads the
host's own `/proc/net/sockstat` (a host-wide counter), against a reading taken before.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway.tools import CallOptions, JsonValue, ToolRef, ToolResult, ToolSourceWrapper
from tests.executor._fleet import fake_source
from tests.security._support import docker_backend, last_json, run_checked

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PAGE_BYTES = 4096
BOUND_BYTES = 64 * 1024 * 1024
"""What one execution may add to the host's TCP memory: unbounded before the fix (1.9 GiB measured)."""

TCP_FILL = """
import json, os, socket
pairs, queued, refused = [], 0, None
chunk = b"x" * 65536
try:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    while True:
        try:
            client = socket.create_connection(server.getsockname())
            peer, _ = server.accept()
        except OSError as e:  # out of descriptors: the nofile limit
            refused = refused or type(e).__name__
            break
        for sock in (client, peer):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, 1 << 30)
                except OSError as e:
                    refused = refused or "setsockopt " + type(e).__name__
        client.setblocking(False)
        stalls = 0
        while stalls < 3:  # the peer never reads: fill until both buffers are full
            try:
                queued += client.send(chunk)
                stalls = 0
            except BlockingIOError:
                stalls += 1
                os.sched_yield()
        pairs.append((client, peer))
except OSError as e:
    refused = refused or type(e).__name__
await calc.echo(text="full")  # the host reads its TCP memory now, while every buffer is held
print(json.dumps({"pairs": len(pairs), "queued": queued, "refused": refused}))
"""


def host_tcp_mem_bytes() -> int:
    """The host's TCP memory in use ("TCP: ... mem <pages>" of /proc/net/sockstat)."""
    for line in Path("/proc/net/sockstat").read_text(encoding="utf-8").splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * PAGE_BYTES
    raise AssertionError("no TCP line in /proc/net/sockstat")


class _ReadHostMemory(ToolSourceWrapper):
    """On the program's tool call (its sockets full and held), note how much the host's TCP memory grew."""

    def __init__(self) -> None:
        super().__init__(fake_source())
        self.before = host_tcp_mem_bytes()
        self.added_bytes: int | None = None

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self.added_bytes = host_tcp_mem_bytes() - self.before
        return await super().call_tool(ref, arguments, options=options)


async def test_tcp_sockets_are_refused_by_default_so_host_tcp_memory_stays_put() -> None:
    probe = _ReadHostMemory()
    async with docker_backend() as backend:
        found = last_json(await run_checked(backend, TCP_FILL, source=probe))
    assert found["pairs"] == 0 and found["refused"] == "PermissionError", found
    assert probe.added_bytes is not None and probe.added_bytes < BOUND_BYTES, probe.added_bytes


async def test_allowed_loopback_tcp_is_bounded_per_socket() -> None:
    probe = _ReadHostMemory()
    async with docker_backend(inet_sockets=True) as backend:
        found = last_json(await run_checked(backend, TCP_FILL, source=probe))
    # It did open pairs (up to the nofile limit) and fill them, but could not raise their buffers.
    assert found["pairs"] >= 30 and found["refused"].startswith("setsockopt PermissionError"), found
    assert found["queued"] < BOUND_BYTES, found
    assert probe.added_bytes is not None and probe.added_bytes < BOUND_BYTES, (probe.added_bytes, found)
