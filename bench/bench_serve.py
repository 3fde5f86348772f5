"""End-to-end benchmarks through `ptc-gateway serve` as a client sees it (writes results).

    .venv/bin/python bench/bench_serve.py [--image ptc-sandbox:latest] [--quick] [--out bench/results/serve]

Each part runs a real `ptc-gateway serve` subprocess with the Docker backend and real MCP servers,
driven by the MCP SDK's `Client`; every figure is set against a baseline measured in the same run.

1. latency: a trivial `execute_code` (`print(1)`) every 200 ms over stdio and over streamable HTTP,
   against a direct MCP SDK call to an upstream tool over stdio, paced the same way (the floor of
   any MCP round trip on this machine). Plus a one-call program and a 20-call `gather`.
2. first_list: the first `tools/list` right after start on a 4-server stdio fleet (real servers),
   with the startup grace (default) and without (`startup_grace_s = 0`, the old behaviour).
3. concurrency: 1 / 5 / 20 clients over HTTP, each running code with 5 tool calls in a loop:
   throughput, p50, p95, failures; the 1-client row is the baseline.
4. rss: the gateway's resident memory with a five-server fleet and the warm pool: idle, then
   after every quarter of N executions (default 1000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fleet_connect import five_servers  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from bench._stats import summary_ms  # noqa: E402
from gateway.config import StdioServerConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = str(Path(sys.executable).with_name("ptc-gateway"))
EXPENSES = StdioServerConfig(command=sys.executable, args=[str(ROOT / "examples" / "expenses_server.py")])
TOKEN = "bench-token"
PACE_S = 0.2
EXTRA_SETTINGS: dict[str, str] = {}
"""`--set PTC_X=Y` options: gateway settings for every gateway this run starts (comparisons)."""
TRIVIAL = "print(1)"
ONE_CALL = "print(len(await everything.echo(message='x')))"
GATHER_20 = (
    "import asyncio\nr = await asyncio.gather(*(everything.echo(message=str(i)) for i in range(20)))\nprint(len(r))"
)
FIVE_CALLS = (
    "import asyncio\nr = await asyncio.gather(*(everything.echo(message=str(i)) for i in range(5)))\nprint(len(r))"
)


def servers_json(servers: dict[str, StdioServerConfig], path: Path) -> Path:
    entries = {
        name: {"command": c.command, "args": list(c.args), **({"env": dict(c.env)} if c.env else {})}
        for name, c in servers.items()
    }
    path.write_text(json.dumps({"mcpServers": entries}), encoding="utf-8")
    return path


def gateway_env(workdir: Path, image: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTC_")}
    config = workdir / "gateway.toml"
    config.write_text(f'[sandbox]\nimage = "{image}"\n', encoding="utf-8")
    env["PTC_CONFIG"] = str(config)
    env["PTC_AUTH_TOKEN"] = TOKEN
    env.update(EXTRA_SETTINGS)
    env.update(settings)
    return env


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def gateway_pid(parent: int, marker: str) -> int:
    """The pid of the `ptc-gateway` child of `parent` whose command line contains `marker`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == parent and "ptc-gateway" in cmdline and marker in cmdline:
            return int(stat.parent.name)
    raise RuntimeError("gateway process not found")


@asynccontextmanager
async def stdio_gateway(servers: Path, env: dict[str, str]) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=GATEWAY, args=["serve", "--servers", str(servers)], env=env)
    async with Client(params) as client:
        yield client


@asynccontextmanager
async def http_gateway(servers: Path, env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """`serve --transport http --port 0`: yields its URL and pid once it listens."""
    args = [GATEWAY, "serve", "--transport", "http", "--port", "0", "--servers", str(servers)]
    process = await anyio.open_process(args, env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    try:
        buffer = b""
        with anyio.fail_after(60):
            while (match := re.search(rb"serving MCP on (\S+)", buffer)) is None:
                buffer += await process.stderr.receive()
        async with anyio.create_task_group() as tg:

            async def drain() -> None:
                assert process.stderr is not None
                async for _ in process.stderr:
                    pass

            tg.start_soon(drain)
            yield match.group(1).decode(), process.pid
            tg.cancel_scope.cancel()
    finally:
        process.terminate()
        with anyio.move_on_after(30, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()


@asynccontextmanager
async def http_client(url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def execute(client: Client, code: str) -> float:
    began = time.perf_counter()
    result = await client.call_tool("execute_code", {"code": code})
    elapsed = time.perf_counter() - began
    if result.is_error:
        raise RuntimeError(f"execute_code failed: {result.content}")
    return elapsed


async def wait_listed(client: Client, needle: str) -> None:
    with anyio.fail_after(120):
        while needle not in ((await client.list_tools()).tools[0].description or ""):  # noqa: ASYNC110 - polls the view
            await anyio.sleep(0.2)


async def paced(n: int, call: Callable[[], Awaitable[float]]) -> list[float]:
    for _ in range(3):  # warm-up
        await call()
        await anyio.sleep(PACE_S)
    samples: list[float] = []
    for _ in range(n):
        samples.append(await call())
        await anyio.sleep(PACE_S)
    return samples


# ---- 1. latency ------------------------------------------------------------------------------


async def bench_latency(workdir: Path, image: str, n: int) -> dict[str, Any]:
    fleet = {"everything": five_servers_everything(), "expenses": EXPENSES}
    servers = servers_json(fleet, workdir / "latency.json")
    env = gateway_env(workdir, image)
    out: dict[str, Any] = {}

    everything = fleet["everything"]
    async with Client(StdioServerParameters(command=everything.command, args=list(everything.args))) as direct:

        async def direct_call() -> float:
            began = time.perf_counter()
            await direct.call_tool("echo", {"message": "x"})
            return time.perf_counter() - began

        out["direct_sdk_call"] = summary_ms(await paced(n, direct_call), digits=2)

    async with stdio_gateway(servers, env) as client:
        await wait_listed(client, "async def echo")
        out["stdio_trivial"] = summary_ms(await paced(n, lambda: execute(client, TRIVIAL)), digits=2)
        out["stdio_one_call"] = summary_ms(await paced(n, lambda: execute(client, ONE_CALL)), digits=2)
        out["stdio_gather_20"] = summary_ms(await paced(n, lambda: execute(client, GATHER_20)), digits=2)

    async with http_gateway(servers, env) as (url, _), http_client(url) as client:
        await wait_listed(client, "async def echo")
        out["http_trivial"] = summary_ms(await paced(n, lambda: execute(client, TRIVIAL)), digits=2)

    # Same program, no warm pool: every execution starts its container.
    cold_env = gateway_env(workdir, image, PTC_SANDBOX__POOL_SIZE="0")
    async with stdio_gateway(servers, cold_env) as client:
        await wait_listed(client, "async def echo")
        out["stdio_trivial_cold"] = summary_ms(await paced(max(5, n // 3), lambda: execute(client, TRIVIAL)), digits=2)
    return out


def five_servers_everything() -> StdioServerConfig:
    from tests.servers import everything_server

    return everything_server()


# ---- 2. first tools/list -----------------------------------------------------------------------


async def bench_first_list(workdir: Path, image: str, runs: int) -> dict[str, Any]:
    (workdir / "first").mkdir()
    fleet = five_servers(workdir / "first")
    fleet.pop("filesystem")
    servers = servers_json(fleet, workdir / "first.json")
    markers = {"time": "class time", "git": "class git", "everything": "class everything", "memory": "class memory"}
    out: dict[str, Any] = {"servers": sorted(fleet)}
    for label, grace in (("grace_default", None), ("grace_0", "0")):
        rows: list[dict[str, Any]] = []
        extra = {"PTC_SERVE__STARTUP_GRACE_S": grace} if grace is not None else {}
        for _ in range(runs):
            env = gateway_env(workdir, image, **extra)
            began = time.perf_counter()
            async with stdio_gateway(servers, env) as client:
                initialized = time.perf_counter() - began
                description = (await client.list_tools()).tools[0].description or ""
                listed = time.perf_counter() - began
            rows.append(
                {
                    "initialize_s": round(initialized, 3),
                    "first_list_s": round(listed, 3),
                    "servers_listed": sum(marker in description for marker in markers.values()),
                }
            )
        out[label] = rows
    return out


# ---- 3. concurrency and 4. RSS ---------------------------------------------------------------


async def clients_loop(url: str, clients: int, duration_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + duration_s

    async def one_client() -> None:
        nonlocal failures
        async with http_client(url) as client:
            while time.perf_counter() < stop_at:
                try:
                    latencies.append(await execute(client, FIVE_CALLS))
                except Exception:  # noqa: BLE001 - a benchmark counts failures
                    failures += 1

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(one_client)
    wall = time.perf_counter() - began
    row = summary_ms(latencies, digits=2) if latencies else {"n": 0}
    row.update({"clients": clients, "failures": failures, "wall_s": round(wall, 2)})
    row["throughput_per_s"] = round(len(latencies) / wall, 2)
    return row


async def bench_concurrency_and_rss(workdir: Path, image: str, duration_s: float, executions: int) -> dict[str, Any]:
    (workdir / "five").mkdir()
    fleet = five_servers(workdir / "five")
    fleet.pop("filesystem")
    fleet["expenses"] = EXPENSES
    servers = servers_json(fleet, workdir / "five.json")
    out: dict[str, Any] = {"servers": sorted(fleet)}
    # Baseline: the pool fixed at its size (2), as before it grew with demand.
    fixed = gateway_env(workdir, image, PTC_SANDBOX__POOL_MAX_SIZE="2")
    async with http_gateway(servers, fixed) as (url, _):
        async with http_client(url) as client:
            await wait_listed(client, "async def echo")
            await anyio.sleep(3)
        out["concurrency_fixed_pool"] = [await clients_loop(url, clients, duration_s) for clients in (1, 5, 20)]
    env = gateway_env(workdir, image)
    async with http_gateway(servers, env) as (url, pid):
        async with http_client(url) as client:
            await wait_listed(client, "async def echo")
            await anyio.sleep(3)  # the warm pool fills, the servers settle
            rss: list[dict[str, Any]] = [{"executions": 0, "rss_mb": rss_mb(pid)}]
        rows = [await clients_loop(url, clients, duration_s) for clients in (1, 5, 20)]
        out["concurrency"] = rows
        done = 0
        quarter = max(1, executions // 4)
        for _ in range(4):
            done += await run_executions(url, quarter, parallel=4)
            await anyio.sleep(2)  # let background removals finish
            rss.append({"executions": done, "rss_mb": rss_mb(pid)})
        out["rss"] = rss
    return out


async def run_executions(url: str, count: int, *, parallel: int) -> int:
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        async with http_client(url) as client:
            while remaining > 0:
                remaining -= 1
                await execute(client, FIVE_CALLS)

    async with anyio.create_task_group() as tg:
        for _ in range(parallel):
            tg.start_soon(worker)
    return count


# ---- report ------------------------------------------------------------------------------------


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        "# End to end through `ptc-gateway serve`",
        "",
        f"Measured {data['when']} on {data['machine']}; load average at the end {data['load_end']}.",
        f"Image `{data['image']}`, Docker backend, default settings (warm pool of 2) unless a row says otherwise.",
        "Generated by `bench/bench_serve.py` (part of `bench/run`).",
        "",
    ]
    lat = data.get("latency")
    if lat:
        direct = lat["direct_sdk_call"]["p50_ms"]
        trivial = lat["stdio_trivial"]["p50_ms"]
        one = lat["stdio_one_call"]["p50_ms"]
        per_call = max(one - trivial, 0.0)
        bound = round(2 * trivial + 20 * per_call, 2)
        lines += [
            "## Latency, one call every 200 ms",
            "",
            "| what | p50 ms | p95 ms | min ms | vs baseline | goal |",
            "|---|---|---|---|---|---|",
            f"| baseline: direct MCP SDK call to server-everything `echo` (stdio) | {direct} | "
            f"{lat['direct_sdk_call']['p95_ms']} | {lat['direct_sdk_call']['min_ms']} | 1x | |",
        ]
        goals = {"stdio_trivial": "p50 <= 10 ms", "http_trivial": "p50 <= 15 ms", "stdio_gather_20": f"<= {bound} ms"}
        names = {
            "stdio_trivial": "`execute_code` of `print(1)`, stdio",
            "http_trivial": "`execute_code` of `print(1)`, streamable HTTP",
            "stdio_one_call": "a program with one `echo` call, stdio",
            "stdio_gather_20": "a `gather` of 20 `echo` calls, stdio",
            "stdio_trivial_cold": "`print(1)`, stdio, no warm pool (a cold container start each time)",
        }
        for key, name in names.items():
            row = lat[key]
            ratio = round(row["p50_ms"] / direct, 1) if direct else "-"
            lines.append(
                f"| {name} | {row['p50_ms']} | {row['p95_ms']} | {row['min_ms']} | {ratio}x | {goals.get(key, '')} |"
            )
        lines += [
            "",
            f"The 20-call goal is 2x the trivial program plus 20 bridged calls' worth: 2 x {trivial} + 20 x "
            f"{round(per_call, 2)} ms (one call's program minus the trivial one) = {bound} ms.",
            "",
        ]
    first = data.get("first_list")
    if first:
        lines += [
            f"## First `tools/list` on a 4-server stdio fleet ({', '.join(first['servers'])})",
            "",
            "| startup grace | runs | servers listed in the first answer | initialize s (median) "
            "| first list s (median) |",
            "|---|---|---|---|---|",
        ]
        for label, name in (("grace_0", "0 s (the old behaviour, baseline)"), ("grace_default", "10 s (default)")):
            rows = first[label]
            listed = "/".join(str(r["servers_listed"]) for r in rows)
            init = statistics.median(r["initialize_s"] for r in rows)
            fl = statistics.median(r["first_list_s"] for r in rows)
            lines.append(f"| {name} | {len(rows)} | {listed} of 4 | {init:.2f} | {fl:.2f} |")
        lines.append("")
    conc = data.get("concurrency")
    if conc:
        base = conc["concurrency"][0]["throughput_per_s"] or 1
        lines += [
            "## Concurrent clients over streamable HTTP (code with 5 tool calls, in a loop)",
            "",
            f"Fleet: {', '.join(conc['servers'])}. Each client runs for {data['duration_s']} s.",
            "",
            "| clients | executions | throughput /s | vs 1 client | p50 ms | p95 ms | failures |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in conc["concurrency"]:
            lines.append(
                f"| {row['clients']} | {row['n']} | {row['throughput_per_s']} | "
                f"{round(row['throughput_per_s'] / base, 2)}x | {row.get('p50_ms', '-')} | {row.get('p95_ms', '-')} | "
                f"{row['failures']} |"
            )
        fixed_rows = conc.get("concurrency_fixed_pool") or []
        if fixed_rows:
            fixed_base = fixed_rows[0]["throughput_per_s"] or 1
            lines += ["", "The same with the pool fixed at 2 containers (`pool_max_size = 2`, the old behaviour):", ""]
            lines += [
                "| clients | executions | throughput /s | vs 1 client | p50 ms | p95 ms | failures |",
                "|---|---|---|---|---|---|---|",
            ]
            for row in fixed_rows:
                lines.append(
                    f"| {row['clients']} | {row['n']} | {row['throughput_per_s']} | "
                    f"{round(row['throughput_per_s'] / fixed_base, 2)}x | {row.get('p50_ms', '-')} | "
                    f"{row.get('p95_ms', '-')} | {row['failures']} |"
                )
        lines += [
            "",
            "Goal: throughput scales to >= 3x from 1 to 5 clients on 2 cores, 0 failures.",
            "",
            "## Gateway memory (RSS), five-server fleet and warm pool",
            "",
            "| executions so far | RSS MB |",
            "|---|---|",
            *[f"| {r['executions']} | {r['rss_mb']} |" for r in conc["rss"]],
            "",
            "The first row is idle (fleet connected, pool full); the concurrency rows above ran in between.",
            "",
        ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="ptc-sandbox:latest")
    parser.add_argument("--calls", type=int, default=40, help="paced samples per latency row")
    parser.add_argument("--runs", type=int, default=3, help="gateway starts for the first-list rows")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency row")
    parser.add_argument("--executions", type=int, default=1000, help="executions for the RSS rows")
    parser.add_argument("--only", choices=("latency", "first_list", "concurrency"), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve")
    parser.add_argument("--set", action="append", default=[], metavar="PTC_KEY=VALUE", help="a gateway setting")
    args = parser.parse_args()
    EXTRA_SETTINGS.update(item.split("=", 1) for item in args.set)
    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work: load average "
        f"{os.getloadavg()[0]:.1f} at start), Python {platform.python_version()}",
        "image": args.image,
        "duration_s": args.duration,
        "settings": dict(EXTRA_SETTINGS),
    }
    with tempfile.TemporaryDirectory(prefix="ptc-bench-serve-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "latency"):
            data["latency"] = await bench_latency(workdir, args.image, args.calls)
            print("latency done", file=sys.stderr)
        if args.only in (None, "first_list"):
            data["first_list"] = await bench_first_list(workdir, args.image, args.runs)
            print("first_list done", file=sys.stderr)
        if args.only in (None, "concurrency"):
            data["concurrency"] = await bench_concurrency_and_rss(workdir, args.image, args.duration, args.executions)
            print("concurrency done", file=sys.stderr)
    data["load_end"] = f"{os.getloadavg()[0]:.1f}"
    out: Path = args.out
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(render_markdown(data), encoding="utf-8")
    print(render_markdown(data))


if __name__ == "__main__":
    anyio.run(main)
