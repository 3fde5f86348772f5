"""Fleet connect+list time for the five real test servers, concurrently (prints JSON).

    .venv/bin/python bench/bench_fleet_connect.py [--runs 3]

Needs `scripts/install-test-servers`. For each run: the time `connect_fleet` takes to return (it
must not wait for servers), the time until every server had its first attempt (`wait_ready`),
and when each server became ready. For comparison it also connects each server alone once: the
sum of those is what a sequential connect would cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

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


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        servers = five_servers(Path(tmp))
        concurrent = [await connect_once(servers) for _ in range(runs)]
        alone = {name: (await connect_once({name: config}))["all_ready_s"] for name, config in servers.items()}
    totals = [float(str(run["all_ready_s"])) for run in concurrent]
    sequential = sum(float(str(value)) for value in alone.values())
    print(
        json.dumps(
            {
                "servers": sorted(servers),
                "runs": runs,
                "concurrent_all_ready_s_median": round(statistics.median(totals), 3),
                "concurrent_all_ready_s_runs": totals,
                "sequential_estimate_s": round(sequential, 3),
                "alone_ready_s": alone,
                "detail": concurrent,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if missing := installed():
        raise SystemExit(f"missing test servers {missing}: run scripts/install-test-servers")
    anyio.run(main, args.runs)
