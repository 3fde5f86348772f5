"""Sandbox benchmarks: start of user code, bridge overhead per tool call, fan-out (writes results).

    .venv/bin/python bench/bench_sandbox.py [--starts 40] [--calls 300] [--out bench/results/sandbox]

Needs a Docker engine, the sandbox image (`ptc-gateway image build`) and the npm test servers
(`scripts/install-test-servers`). Every ratio is measured within one run of this script.

1. Start of user code: from "I need a sandbox" (`backend.acquire()`) until the runner reports
   `started` (stubs loaded, the model's code begins), for a warm-pool container, a cold container
   started for the execution, and a plain `docker run -i --rm IMAGE python3 -c ...` until its first
   byte of output.
2. Bridge overhead per tool call: sequential `echo` calls to server-everything, timed inside the
   sandbox (through runner -> attach socket -> executor -> MCP client -> server), against the same
   calls made directly with the MCP SDK's `Client` to the same server.
3. Fan-out: `asyncio.gather` of 100 calls to an MCP tool that sleeps 100 ms, against one call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp import Client, StdioServerParameters  # noqa: E402

from bench._stats import pct, summary_ms  # noqa: E402
from bridge.protocol import FrameDecoder, encode_frame, new_nonce  # noqa: E402
from gateway.app import open_gateway  # noqa: E402
from gateway.config import ExecutionLimits, GatewaySettings, SandboxSettings, StdioServerConfig  # noqa: E402
from gateway.sandbox import (  # noqa: E402
    BaseSandbox,
    BaseSandboxBackend,
    DockerSandboxBackend,  # noqa: E402
)
from gateway.testing import LocalProcessBackend  # noqa: E402
from gateway.tools import BaseToolSource, CallOptions, JsonValue, ToolRef, ToolResult, ToolSourceWrapper  # noqa: E402
from tests.servers import everything_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SLEEP_SERVER = StdioServerConfig(command=sys.executable, args=[str(ROOT / "bench" / "_sleep_server.py")])


async def until_started(backend: DockerSandboxBackend) -> float:
    """acquire() -> job sent -> `started` frame; returns seconds. The sandbox is closed untimed."""
    began = time.perf_counter()
    sandbox = await backend.acquire()
    try:
        nonce = new_nonce()
        job: dict[str, Any] = {
            "type": "job",
            "code": "pass",
            "stubs": "",
            "namespaces": [],
            "limits": {},
            "helpers": False,
        }
        await sandbox.send(encode_frame(nonce, job))
        decoder = FrameDecoder(nonce=nonce)
        while True:
            if any(m["type"] == "started" for _, m in decoder.feed(await sandbox.receive())):
                return time.perf_counter() - began
    finally:
        await sandbox.aclose()


async def bench_starts(image: str, n: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    warm: list[float] = []
    settings = SandboxSettings(image=image, pool_size=1)
    async with DockerSandboxBackend(settings, ExecutionLimits()) as backend:
        for _ in range(n):
            with anyio.fail_after(60):
                while backend.pool_ready < 1:  # noqa: ASYNC110 - a benchmark waits for the pool to refill
                    await anyio.sleep(0.01)
            await anyio.sleep(0.2)  # let the engine settle after the refill
            warm.append(await until_started(backend))
        results["runtime_mode"] = backend.runtime_mode
    results["warm"] = summary_ms(warm)

    cold: list[float] = []
    async with DockerSandboxBackend(settings.model_copy(update={"pool_size": 0}), ExecutionLimits()) as backend:
        cold.extend([await until_started(backend) for _ in range(max(5, n // 3))])
    results["cold"] = summary_ms(cold)

    plain: list[float] = []
    command = [
        "docker", "run", "-i", "--rm", "--network", "none", "--log-driver", "none", image,
        "python3", "-I", "-c", "import os; os.write(1, b'x')",
    ]  # fmt: skip
    for _ in range(max(5, n // 3)):
        began = time.perf_counter()
        async with await anyio.open_process(command) as process:
            assert process.stdout is not None
            await process.stdout.receive(1)
            plain.append(time.perf_counter() - began)
            await process.wait()
    results["docker_run"] = summary_ms(plain)
    return results


ECHO_RUNNER = (
    "import os\n"
    'hello = b\'{"type":"hello","protocol":1}\'\n'
    "os.write(1, b'#PTC 1 ' + b'0' * 32 + b' %d\\n' % len(hello) + hello + b'\\n')\n"
    "while True:\n"
    "    data = os.read(0, 65536)\n"
    "    if not data:\n"
    "        break\n"
    "    os.write(1, data)\n"
)


class EchoBackend(DockerSandboxBackend):
    """The same hardened container, running a byte echo instead of the runner: the transport alone."""

    def _container_config(self, uid: int | None) -> dict[str, Any]:
        return {**super()._container_config(uid), "command": ["python3", "-I", "-c", ECHO_RUNNER]}


async def bench_transport(image: str, n: int) -> dict[str, float]:
    """Round trip of 200 bytes host -> container -> host over the attach socket."""
    latencies: list[float] = []
    async with EchoBackend(
        SandboxSettings(image=image, pool_size=0, runtime_injection="baked"), ExecutionLimits()
    ) as b:
        sandbox = await b.acquire()
        try:
            for _ in range(n + 20):
                began = time.perf_counter()
                await sandbox.send(b"x" * 200)
                received = 0
                while received < 200:
                    received += len(await sandbox.receive())
                latencies.append(time.perf_counter() - began)
        finally:
            await sandbox.aclose()
    return summary_ms(latencies[20:])


FIFO_ECHO = (
    "import os\n"
    "r = os.open('/run/ptc/in', os.O_RDONLY)\n"
    "w = os.open('/run/ptc/out', os.O_WRONLY)\n"
    "while True:\n"
    "    data = os.read(r, 65536)\n"
    "    if not data:\n"
    "        break\n"
    "    os.write(w, data)\n"
)


async def bench_fifo_transport(image: str, n: int) -> dict[str, float]:
    """The same 200-byte round trip over two FIFOs bind-mounted into a hardened container.

    Not a transport the gateway uses (tool calls travel over the container's stdio, which the
    engine relays); measured to show what the relay costs. The host side waits on the event loop
    exactly as the attach-socket measurement does.
    """
    with tempfile.TemporaryDirectory(prefix="ptc-fifo-") as folder:
        fifo_in, fifo_out = os.path.join(folder, "in"), os.path.join(folder, "out")
        for path in (fifo_in, fifo_out):
            os.mkfifo(path, 0o666)
            os.chmod(path, 0o666)  # the umask narrowed mkfifo's mode; the container user must open both
        command = [
            "docker", "run", "-d", "--rm", "--network", "none", "--read-only", "--user", "65534:65534",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--log-driver", "none",
            "-v", f"{fifo_in}:/run/ptc/in", "-v", f"{fifo_out}:/run/ptc/out",
            image, "python3", "-I", "-c", FIFO_ECHO,
        ]  # fmt: skip
        started = await anyio.run_process(command)
        container = started.stdout.decode().strip()
        try:
            # Opening a FIFO blocks until the other end opens: in a thread, off the loop.
            write_fd = await anyio.to_thread.run_sync(os.open, fifo_in, os.O_WRONLY)
            read_fd = await anyio.to_thread.run_sync(os.open, fifo_out, os.O_RDONLY)
            os.set_blocking(read_fd, False)
            latencies: list[float] = []
            try:
                for _ in range(n + 20):
                    began = time.perf_counter()
                    os.write(write_fd, b"x" * 200)
                    received = 0
                    while received < 200:
                        try:
                            received += len(os.read(read_fd, 65536))
                        except BlockingIOError:
                            await anyio.wait_readable(read_fd)
                    latencies.append(time.perf_counter() - began)
            finally:
                os.close(write_fd)
                os.close(read_fd)
        finally:
            await anyio.run_process(["docker", "rm", "-f", container], check=False)
    return summary_ms(latencies[20:])


TIMED_CALLS = """
import json, time
latencies = []
for _ in range({n}):
    began = time.perf_counter()
    await everything.echo(message="hello")
    latencies.append(time.perf_counter() - began)
print(json.dumps(latencies))
"""


PACE_S = 0.0005
"""Pause before each call of the paced direct row (the event loop rounds it up to 1 ms): about the time
a bridged call leaves the server idle."""


def echo_setup(image: str, n: int) -> tuple[StdioServerParameters, GatewaySettings]:
    """server-everything for a direct client, and a gateway on it that allows `n` calls per execution."""
    server = everything_server()
    params = StdioServerParameters(command=server.command, args=server.args, env=server.env or None, cwd=server.cwd)
    settings = GatewaySettings(
        servers={"everything": server},
        # No warm pool here: its refill (a container start, ~0.3 s of dockerd/runc CPU) would run during the
        # timed calls of every round and measure the machine's contention instead of the bridge.
        sandbox=SandboxSettings(image=image, pool_size=0),
        limits=ExecutionLimits(max_tool_calls=n + 100, execution_timeout_s=300),
    )
    return params, settings


async def bench_bridge(image: str, n: int, rounds: int = 6) -> dict[str, Any]:
    """Interleaved rounds (direct, Docker, local-process) so machine load hits every path alike."""
    params, settings = echo_setup(image, n)
    per_round = max(10, n // rounds)
    direct: list[float] = []
    paced: list[float] = []
    bridged: list[float] = []
    local_process: list[float] = []
    round_ratios: list[float] = []
    async with (
        Client(params) as client,
        open_gateway(settings) as docker_gateway,
        LocalProcessBackend() as local,
        open_gateway(settings, backend=local) as local_gateway,
    ):
        await docker_gateway.fleet.wait_ready(60)
        await local_gateway.fleet.wait_ready(60)
        for _ in range(20):
            await client.call_tool("echo", {"message": "hello"})
        for gateway in (docker_gateway, local_gateway):
            await gateway.execute(TIMED_CALLS.format(n=20))
        for _ in range(rounds):
            direct_round: list[float] = []
            for _ in range(per_round):
                began = time.perf_counter()
                await client.call_tool("echo", {"message": "hello"})
                direct_round.append(time.perf_counter() - began)
            for _ in range(per_round):
                await anyio.sleep(PACE_S)  # client and server go idle between calls, as around a bridged call
                began = time.perf_counter()
                await client.call_tool("echo", {"message": "hello"})
                paced.append(time.perf_counter() - began)
            result = await docker_gateway.execute(TIMED_CALLS.format(n=per_round))
            assert result.ok, result.error
            bridged_round: list[float] = json.loads(result.stdout)
            result = await local_gateway.execute(TIMED_CALLS.format(n=per_round))
            assert result.ok, result.error
            local_process.extend(json.loads(result.stdout))
            direct.extend(direct_round)
            bridged.extend(bridged_round)
            round_ratios.append(pct(bridged_round, 0.5) / pct(direct_round, 0.5))
    d, b = summary_ms(direct), summary_ms(bridged)
    return {
        "attach_round_trip": await bench_transport(image, n),
        "fifo_round_trip": await bench_fifo_transport(image, n),
        "direct_sdk": d,
        "direct_sdk_paced": summary_ms(paced),
        "through_sandbox": b,
        "local_process": summary_ms(local_process),
        "ratio_p50": round(b["p50_ms"] / d["p50_ms"], 2),
        "added_p50_ms": round(b["p50_ms"] - d["p50_ms"], 3),
        "round_ratios_p50": [round(r, 2) for r in round_ratios],
    }


STAMPED_CALLS = """
import json, time
before, after = [], []
for _ in range({n}):
    before.append(time.perf_counter())
    await everything.echo(message="hello")
    after.append(time.perf_counter())
print(json.dumps([before, after]))
"""


class Stamps:
    """`time.perf_counter()` readings of the host side of each call (CLOCK_MONOTONIC: the container's too)."""

    def __init__(self) -> None:
        self.call_received: list[float] = []
        self.upstream_start: list[float] = []
        self.upstream_end: list[float] = []
        self.result_sent: list[float] = []

    def clear(self) -> None:
        for stamps in (self.call_received, self.upstream_start, self.upstream_end, self.result_sent):
            stamps.clear()


class StampedSource(ToolSourceWrapper):
    """Stamps the start and end of each upstream call (filters, fleet, MCP client, server)."""

    def __init__(self, inner: BaseToolSource, stamps: Stamps) -> None:
        super().__init__(inner)
        self._stamps = stamps

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        self._stamps.upstream_start.append(time.perf_counter())
        try:
            return await self._inner.call_tool(ref, arguments, options=options)
        finally:
            self._stamps.upstream_end.append(time.perf_counter())


class StampedSandbox(BaseSandbox):
    """Stamps when a chunk holding a `call` frame is received and when a `result` frame is sent."""

    def __init__(self, inner: BaseSandbox, stamps: Stamps) -> None:
        self.info = inner.info
        self._inner = inner
        self._stamps = stamps

    async def send(self, data: bytes) -> None:
        if b'"type":"result"' in data:
            self._stamps.result_sent.append(time.perf_counter())
        await self._inner.send(data)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        chunk = await self._inner.receive(max_bytes)
        if b'"type":"call"' in chunk:
            self._stamps.call_received.append(time.perf_counter())
        return chunk

    async def diagnostics(self) -> str:
        return await self._inner.diagnostics()

    async def exit_status(self) -> int | None:
        return await self._inner.exit_status()

    async def aclose(self) -> None:
        await self._inner.aclose()


class StampedBackend(BaseSandboxBackend):
    def __init__(self, inner: BaseSandboxBackend, stamps: Stamps) -> None:
        self.name = inner.name
        self._inner = inner
        self._stamps = stamps

    async def acquire(self) -> BaseSandbox:
        return StampedSandbox(await self._inner.acquire(), self._stamps)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def bench_stages(image: str, n: int) -> dict[str, Any]:
    """Where a bridged call's time goes: p50 of each leg, from timestamps on both sides of the bridge.

    Sequential calls, one at a time, so the i-th stamp of every list belongs to the i-th call. The
    sandbox's `time.perf_counter()` reads the same CLOCK_MONOTONIC as the host's.
    """
    params, settings = echo_setup(image, n)
    results: dict[str, Any] = {}
    async with Client(params) as client:
        for _ in range(20):
            await client.call_tool("echo", {"message": "hello"})
        direct: list[float] = []
        for _ in range(n):
            began = time.perf_counter()
            await client.call_tool("echo", {"message": "hello"})
            direct.append(time.perf_counter() - began)
        results["direct_sdk_ms"] = round(pct(direct, 0.5) * 1000, 3)
    for label, backend in (
        ("docker", DockerSandboxBackend(settings.sandbox, settings.limits)),
        ("local_process", LocalProcessBackend()),
    ):
        stamps = Stamps()
        async with backend, open_gateway(settings, backend=StampedBackend(backend, stamps)) as gateway:
            await gateway.fleet.wait_ready(60)
            gateway.source = StampedSource(gateway.source, stamps)
            await gateway.execute(STAMPED_CALLS.format(n=20))
            stamps.clear()
            result = await gateway.execute(STAMPED_CALLS.format(n=n))
            assert result.ok, result.error
            before, after = json.loads(result.stdout)
        legs = {
            "code -> call frame received": [stamps.call_received[i] - before[i] for i in range(n)],
            "received -> upstream call starts (executor, approval)": [
                stamps.upstream_start[i] - stamps.call_received[i] for i in range(n)
            ],
            "upstream call (filters, fleet, MCP client, server)": [
                stamps.upstream_end[i] - stamps.upstream_start[i] for i in range(n)
            ],
            "upstream returns -> result sent (encode, send)": [
                stamps.result_sent[i] - stamps.upstream_end[i] for i in range(n)
            ],
            "result sent -> code resumes": [after[i] - stamps.result_sent[i] for i in range(n)],
            "whole call, seen by the code": [after[i] - before[i] for i in range(n)],
        }
        results[label] = {leg: round(pct(values, 0.5) * 1000, 3) for leg, values in legs.items()}
    results["calls"] = n
    return results


FAN_OUT = """
import asyncio, json, time
began = time.perf_counter()
await sleepy.sleep(seconds=0.1)
one = time.perf_counter() - began
began = time.perf_counter()
await asyncio.gather(*(sleepy.sleep(seconds=0.1) for _ in range(100)))
many = time.perf_counter() - began
print(json.dumps({"one_s": one, "gather_100_s": many}))
"""


async def direct_fan_out(repeats: int) -> dict[str, Any]:
    """The same one call and gather of 100, made directly with the MCP SDK: the server's own floor."""
    params = StdioServerParameters(command=SLEEP_SERVER.command, args=SLEEP_SERVER.args)
    ones: list[float] = []
    manys: list[float] = []
    async with Client(params) as client:
        await client.call_tool("sleep", {"seconds": 0.0})
        for _ in range(repeats):
            began = time.perf_counter()
            await client.call_tool("sleep", {"seconds": 0.1})
            ones.append(time.perf_counter() - began)
            began = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(client.call_tool, "sleep", {"seconds": 0.1})
            manys.append(time.perf_counter() - began)
    one, many = statistics.median(ones), statistics.median(manys)
    return {"one_call_ms": round(one * 1000, 1), "gather_100_ms": round(many * 1000, 1), "ratio": round(many / one, 2)}


async def bench_fan_out(image: str, repeats: int = 3) -> dict[str, Any]:
    results: dict[str, Any] = {"direct SDK (no sandbox; reference)": await direct_fan_out(repeats)}
    for concurrency in (ExecutionLimits().max_concurrent_calls, 32):
        settings = GatewaySettings(
            servers={"sleepy": SLEEP_SERVER},
            sandbox=SandboxSettings(image=image, pool_size=1),
            limits=ExecutionLimits(max_concurrent_calls=concurrency),
        )
        ones: list[float] = []
        manys: list[float] = []
        async with open_gateway(settings) as gateway:
            await gateway.fleet.wait_ready(60)
            await gateway.execute(FAN_OUT)  # warm-up
            for _ in range(repeats):
                result = await gateway.execute(FAN_OUT)
                assert result.ok, result.error
                numbers = json.loads(result.stdout)
                ones.append(numbers["one_s"])
                manys.append(numbers["gather_100_s"])
        one, many = statistics.median(ones), statistics.median(manys)
        results[f"max_concurrent_calls={concurrency}"] = {
            "one_call_ms": round(one * 1000, 1),
            "gather_100_ms": round(many * 1000, 1),
            "ratio": round(many / one, 2),
            "runs": repeats,
        }
    return results


def floor_ratio(bridge: dict[str, Any]) -> float:
    """(direct call + attach round trip) / direct call: what any bridged call costs at least."""
    direct = bridge["direct_sdk"]["p50_ms"]
    return round((direct + bridge["attach_round_trip"]["p50_ms"]) / direct, 2)


def render_markdown(data: dict[str, Any]) -> str:
    s, b, f, st = data["starts"], data["bridge"], data["fan_out"], data["stages"]
    lines = [
        "# Sandbox benchmarks",
        "",
        f"Measured {data['when']} on {data['machine']} with `bench/bench_sandbox.py` (one run; all ratios from it).",
        f"Image `{data['image']}`, bridge runtime `{s['runtime_mode']}`.",
        "",
        "## Start of user code (acquire -> runner reports `started`)",
        "",
        "| path | n | p50 ms | p95 ms | mean ms | goal |",
        "|---|---|---|---|---|---|",
        f"| warm pool | {s['warm']['n']} | {s['warm']['p50_ms']} | {s['warm']['p95_ms']} | {s['warm']['mean_ms']} "
        "| p50 <= 10, p95 <= 25 |",
        f"| cold container | {s['cold']['n']} | {s['cold']['p50_ms']} | {s['cold']['p95_ms']} "
        f"| {s['cold']['mean_ms']} | |",
        f"| plain `docker run` | {s['docker_run']['n']} | {s['docker_run']['p50_ms']} | {s['docker_run']['p95_ms']} "
        f"| {s['docker_run']['mean_ms']} | |",
        "",
        "## Bridge overhead per tool call (server-everything `echo`, sequential)",
        "",
        "| path | n | p50 ms | p95 ms | mean ms | min ms |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {b[key]['n']} | {b[key]['p50_ms']} | {b[key]['p95_ms']} | {b[key]['mean_ms']} "
            f"| {b[key]['min_ms']} |"
            for label, key in (
                ("direct MCP SDK `Client.call_tool`", "direct_sdk"),
                (f"the same, paced: {PACE_S * 1000:g} ms pause before each call (not timed)", "direct_sdk_paced"),
                ("from sandbox code through the bridge (Docker)", "through_sandbox"),
                ("same code, local-process backend (no Docker: runner + executor cost)", "local_process"),
                ("transport alone: 200-byte round trip over the attach socket (echo container)", "attach_round_trip"),
                ("for comparison: the same round trip over two bind-mounted FIFOs (not used)", "fifo_round_trip"),
            )
        ),
        "",
        f"Docker sandbox vs direct SDK call (p50): **{b['ratio_p50']}x**, **+{b['added_p50_ms']} ms** "
        "(goal <= 2x and <= +1 ms); per-round p50 ratios "
        f"{b['round_ratios_p50']}. Against the paced direct call: "
        f"{round(b['through_sandbox']['p50_ms'] / b['direct_sdk_paced']['p50_ms'], 2)}x. "
        "Local-process backend vs direct: "
        f"{round(b['local_process']['p50_ms'] / b['direct_sdk']['p50_ms'], 2)}x, "
        f"+{round(b['local_process']['p50_ms'] - b['direct_sdk']['p50_ms'], 3)} ms.",
        "",
        "## Where a bridged call's time goes (p50 of each leg, ms)",
        "",
        "Timestamps on both sides of the bridge (the sandbox reads the host's monotonic clock), "
        f"{st['calls']} sequential `echo` calls per backend; the direct SDK call took {st['direct_sdk_ms']} ms "
        "in the same run. Legs are medians each, so they need not add up exactly to the whole call.",
        "",
        "| leg | Docker | local process |",
        "|---|---|---|",
        *(f"| {leg} | {st['docker'][leg]} | {st['local_process'][leg]} |" for leg in st["docker"]),
        "",
        "## Fan-out: `asyncio.gather` of 100 calls to a tool sleeping 100 ms",
        "",
        "Medians of three runs, each one call then a gather of 100, inside the sandbox; the first row makes",
        "the same calls directly with the MCP SDK (no gateway, no sandbox): what the server itself costs.",
        "",
        "| limits | one call ms | gather of 100 ms | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for name, row in f.items():
        goal = "<= 3x" if name.startswith("max_") else ""
        lines.append(f"| {name} | {row['one_call_ms']} | {row['gather_100_ms']} | {row['ratio']}x | {goal} |")
    lines += [
        "",
        "## Reading the numbers",
        "",
        "- The machine is shared (see the load average above), so p50s move between runs; the bridge rounds are",
        "  interleaved (direct, Docker, local-process) so load hits each path alike, and the per-round ratios show",
        "  the spread. The `min` column is the closest thing to an idle machine.",
        "- A bridged call cannot cost less than the direct call plus one round trip over the attach socket",
        f"  (row 4): {b['direct_sdk']['p50_ms']} + {b['attach_round_trip']['p50_ms']} ms, "
        f"{floor_ratio(b)}x the direct call, before a line of the runner or the executor runs.",
        "  Each crossing of that socket passes two relaying processes, containerd-shim and dockerd, so a call",
        "  wakes five processes in turn (runner, shim, dockerd, gateway, server) where a direct call wakes two;",
        "  on this 2-vCPU virtual machine a wake-up of an idle process costs tens of microseconds, not a few.",
        "- The paced row is the same direct call when client and server sit idle between calls, as they do",
        "  while a bridged call crosses the bridge: waking from idle makes the call itself slower here. The",
        "  stage table's upstream-call leg is that paced cost, not the back-to-back one the ratio divides by.",
        "- The stage table splits the rest: the upstream call (filters, fleet, the MCP SDK client, the server)",
        "  is the direct call's work; the gateway's own handling before and after it is about 0.1 ms; the two",
        "  transport legs carry the runner's work (binding arguments, encoding, decoding, waking the awaiting",
        "  coroutine) plus the relays. The local-process column is the same path with plain pipes instead.",
        "- The last row is what the relay costs: the same hardened container answering over a pair of FIFOs",
        "  bind-mounted from the host skips containerd-shim and dockerd. The gateway does not do this: the",
        "  protocol travels over the container's stdio, which works with any engine, local or remote.",
        "- The per-round ratios move with the machine's load: every one of those wake-ups can wait for a CPU.",
        "- The fan-out reference row makes the same 1 + 100 calls directly with the MCP SDK: the Python SDK",
        "  server's own per-request cost, which every bridged row pays as well.",
        "- The bridge rows run without a warm pool: a pool refills in the background right after an execution",
        "  takes its container, and that container start would overlap the timed calls.",
        "- The default `max_concurrent_calls` is 100 so that a gather of 100 calls runs in one wave; the row",
        "  with 32 shows the waves a lower cap costs.",
        "",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="ptc-sandbox:latest")
    parser.add_argument("--starts", type=int, default=40)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sandbox")
    parser.add_argument("--only", choices=("starts", "bridge", "stages", "fan_out"), default=None)
    args = parser.parse_args()
    import platform

    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work: load average "
        f"{os.getloadavg()[0]:.1f} at start), Python {platform.python_version()}",
        "image": args.image,
    }
    if args.only in (None, "starts"):
        data["starts"] = await bench_starts(args.image, args.starts)
        print(json.dumps(data["starts"]), file=sys.stderr)
    if args.only in (None, "bridge"):
        data["bridge"] = await bench_bridge(args.image, args.calls)
        print(json.dumps(data["bridge"]), file=sys.stderr)
    if args.only in (None, "stages"):
        data["stages"] = await bench_stages(args.image, args.calls)
        print(json.dumps(data["stages"]), file=sys.stderr)
    if args.only in (None, "fan_out"):
        data["fan_out"] = await bench_fan_out(args.image)
        print(json.dumps(data["fan_out"]), file=sys.stderr)
    if args.only is None:
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(render_markdown(data), encoding="utf-8")
        print(render_markdown(data))
    else:
        print(json.dumps(data, indent=2))


if __name__ == "__main__":
    anyio.run(main)
