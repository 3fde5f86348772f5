"""A 50 MB tool result through the fleet: time to fail (or answer), gateway memory, event-loop stalls.

    .venv/bin/python bench/bench_big_result.py [--megabytes 50] [--label after] [--out bench/results]

The fault-injecting test server (`tests/upstream/faulty_server.py`) answers `huge(megabytes)` over
stdio and over streamable HTTP (a JSON body from a 2026-07-28 session, an SSE event from a
2025-era one; the server in its own process). For each: seconds until the call returns
(result or error), the gateway's peak RSS growth (`ru_maxrss`, so run each transport in a fresh
process: this script re-runs itself per case), the longest event-loop stall seen by a 10 ms ticker,
and whether a small call right after still works. Writes `big_result_<label>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import RemoteServerConfig, StdioServerConfig  # noqa: E402
from gateway.errors import GatewayError  # noqa: E402
from gateway.tools import ToolRef  # noqa: E402
from gateway.upstream import connect_fleet  # noqa: E402

CASES = ("stdio", "http-json", "http-sse")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _measure(config: StdioServerConfig | RemoteServerConfig, megabytes: float) -> dict[str, Any]:
    stall = 0.0
    async with connect_fleet({"faulty": config}) as fleet:
        await fleet.wait_ready(timeout_s=60)

        async def ticker() -> None:
            nonlocal stall
            while True:
                before = time.perf_counter()
                await anyio.sleep(0.01)
                stall = max(stall, time.perf_counter() - before - 0.01)

        rss_before = _rss_mb()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            started = time.perf_counter()
            try:
                result = await fleet.call_tool(
                    ToolRef(server="faulty", name="huge"), {"megabytes": megabytes}, options={"timeout_s": 300}
                )
                outcome = "error: " + str(result.content[0])[:300] if result.is_error else "result"
            except GatewayError as e:
                outcome = f"raised: {str(e)[:300]}"
            seconds = time.perf_counter() - started
            tg.cancel_scope.cancel()
        after = await fleet.call_tool(ToolRef(server="faulty", name="echo"), {"text": "ok"}, options={"timeout_s": 60})
    return {
        "seconds": round(seconds, 2),
        "rss_growth_mb": round(_rss_mb() - rss_before, 1),
        "max_loop_stall_s": round(stall, 3),
        "outcome": outcome,
        "next_call_ok": not after.is_error,
    }


async def _case(case: str, megabytes: float) -> dict[str, Any]:
    server = ROOT / "tests/upstream/faulty_server.py"
    if case == "stdio":
        return await _measure(StdioServerConfig(command=sys.executable, args=[str(server)]), megabytes)
    # The HTTP server runs in its own process, so only the gateway's memory is measured.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    era = ["--handshake-era"] if case == "http-sse" else []  # a 2025-era session answers calls on SSE
    command = [sys.executable, str(server), "--http", str(port), *era]
    async with await anyio.open_process(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}) as process:
        try:
            with anyio.fail_after(60):
                while True:
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        await anyio.sleep(0.1)
            return await _measure(RemoteServerConfig(url=f"http://127.0.0.1:{port}/mcp", timeout=60), megabytes)
        finally:
            process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=50)
    parser.add_argument("--label", default="after")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--case", choices=CASES)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(anyio.run(_case, args.case, args.megabytes)))
        return
    rows: dict[str, Any] = {}
    for case in CASES:
        command = [sys.executable, __file__, "--case", case, "--megabytes", str(args.megabytes)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
        rows[case] = json.loads(done.stdout) if done.returncode == 0 else {"failed": done.stderr[-500:]}
        print(case, rows[case], file=sys.stderr)
    report = {"megabytes": args.megabytes, "label": args.label, "load_average": os.getloadavg(), "cases": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"big_result_{args.label}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# {args.megabytes:g} MB tool result ({args.label})",
        "",
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (shared 2-core machine).",
        "",
        "| transport | seconds | gateway peak RSS growth (MB) | longest loop stall (s) | next call ok | outcome |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case, row in rows.items():
        if "failed" in row:
            lines.append(f"| {case} | failed | | | | {row['failed'][-200:]!r} |")
            continue
        outcome = row["outcome"].replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {case} | {row['seconds']} | {row['rss_growth_mb']} | {row['max_loop_stall_s']} | "
            f"{row['next_call_ok']} | {outcome} |"
        )
    (args.out / f"big_result_{args.label}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
