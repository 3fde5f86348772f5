"""Fleet connect+list time for the five real test servers, concurrently (prints JSON).

    .venv/bin/python bench/bench_fleet_connect.py [--runs 5] [--out bench/results]

Needs `scripts/install-test-servers`. For each run: the time `connect_fleet` takes to return (it
must not wait for servers), the time until every server had its first attempt (`wait_ready`),
and when each server became ready. For comparison it also connects each server alone once: the
sum of those is what a sequential connect would cost. Writes `fleet_connect.json` and
`fleet_connect.md` into `--out` (the machine's load average is recorded: it is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import StdioServerConfig  # noqa: E402
from gateway.upstream import connect_fleet  # noqa: E402
from tests.servers import (  # noqa: E402
    everything_server,
    filesystem_server,
    git_server,
    installed,
    memory_server,
    time_server,
)


def five_servers(workdir: Path) -> dict[str, StdioServerConfig]:
    repo = workdir / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True)
    files = workdir / "files"
    files.mkdir()
    return {
        "time": time_server(),
        "git": git_server(repo),
        "everything": everything_server(),
        "memory": memory_server(workdir / "memory.jsonl"),
        "filesystem": filesystem_server(files),
    }


async def connect_once(servers: Mapping[str, StdioServerConfig]) -> dict[str, object]:
    ready_at: dict[str, float] = {}
    all_ready_s, tools, states = 0.0, 0, dict[str, str]()
    start = time.perf_counter()
    async with connect_fleet(servers) as fleet:
        returned_s = time.perf_counter() - start
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                seen = fleet.version
                while True:
                    for name, status in fleet.status().items():
                        if status.state != "starting" and name not in ready_at:
                            ready_at[name] = time.perf_counter() - start
                    seen = await fleet.wait_changed(seen)

            tg.start_soon(watch)
            await fleet.wait_ready(timeout_s=120)
            all_ready_s = time.perf_counter() - start
            tools = len(await fleet.list_tools())
            states = {name: status.state for name, status in fleet.status().items()}
            tg.cancel_scope.cancel()
    closed_s = time.perf_counter() - start - all_ready_s
    return {
        "connect_fleet_returned_s": round(returned_s, 4),
        "all_ready_s": round(all_ready_s, 3),
        "per_server_ready_s": {name: round(ready_at.get(name, all_ready_s), 3) for name in sorted(servers)},
        "tools": tools,
        "states": states,
        "shutdown_s": round(closed_s, 3),
    }


def _ready_s(run: Mapping[str, object], server: str) -> float:
    ready = run["per_server_ready_s"]
    assert isinstance(ready, dict)
    return float(str(cast("dict[str, float]", ready)[server]))


async def measure(runs: int) -> tuple[str, str]:
    """The JSON and the markdown of `runs` concurrent connects (after a warm-up) and one alone each."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        servers = five_servers(Path(tmp))
        await connect_once(servers)  # warm-up (page cache, node's compile cache): not counted
        concurrent = [await connect_once(servers) for _ in range(runs)]
        alone = {name: (await connect_once({name: config}))["all_ready_s"] for name, config in servers.items()}
    totals = [float(str(run["all_ready_s"])) for run in concurrent]
    returned = [float(str(run["connect_fleet_returned_s"])) for run in concurrent]
    sequential = sum(float(str(value)) for value in alone.values())
    result: dict[str, object] = {
        "servers": sorted(servers),
        "runs": runs,
        "concurrent_all_ready_s_median": round(statistics.median(totals), 3),
        "concurrent_all_ready_s_runs": totals,
        "connect_fleet_returned_s_median": round(statistics.median(returned), 4),
        "sequential_estimate_s": round(sequential, 3),
        "alone_ready_s": alone,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "detail": concurrent,
    }
    text = json.dumps(result, indent=2)
    per_server = {name: [_ready_s(run, name) for run in concurrent] for name in alone}
    lines = [
        "# Fleet connect + list: the five real servers, concurrently",
        "",
        f"`.venv/bin/python bench/bench_fleet_connect.py --runs {runs}`: stdio servers mcp-server-time,",
        "mcp-server-git (on a temporary repo), server-everything, server-memory, server-filesystem; one",
        "warm-up round not counted. Time from `connect_fleet` to every server connected and listed",
        f"(`wait_ready`). Shared machine: {os.cpu_count()} CPUs, 1-minute load average"
        f" {load_before[0]:.2f} before and {os.getloadavg()[0]:.2f} after.",
        "",
        "| measurement | seconds |",
        "|---|--:|",
        f"| all five connected + listed, concurrent (median of {runs}) | {statistics.median(totals):.2f} |",
        f"| runs | {', '.join(f'{t:.2f}' for t in totals)} |",
        f"| `connect_fleet` returns (median; it never waits for servers) | {statistics.median(returned):.4f} |",
        f"| sum of each server connected alone (sequential estimate) | {sequential:.2f} |",
        "",
        "| server | alone | ready within the concurrent runs (median) |",
        "|---|--:|--:|",
        *(
            f"| {name} | {float(str(alone[name])):.2f} | {statistics.median(values):.2f} |"
            for name, values in sorted(per_server.items())
        ),
        "",
    ]
    return text, "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    if missing := installed():
        raise SystemExit(f"missing test servers {missing}: run scripts/install-test-servers")
    json_text, markdown = anyio.run(measure, args.runs)
    print(json_text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet_connect.json").write_text(json_text + "\n", encoding="utf-8")
    (args.out / "fleet_connect.md").write_text(markdown, encoding="utf-8")
