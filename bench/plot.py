"""PNG plots from the JSON results of the benchmarks (`bench/run` calls it last).

    .venv/bin/python bench/plot.py [--results bench/results]

Needs the `bench` extra (matplotlib). Each plot reads one results file and is skipped (with a
note on stderr) when that file is missing; every plot shows a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    if not path.exists():
        print(f"plot: {path} missing; skipped", file=sys.stderr)
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def subtitle(data: dict[str, Any]) -> str:
    when = data.get("when") or data.get("meta", {}).get("date", "")
    machine = data.get("machine", "")
    return f"{when} · {machine}"[:150]


def distributions(ax: Any, rows: list[tuple[str, list[float]]], *, log: bool = False) -> None:
    """Box plots (with every sample as a dot) of latency rows, one per label."""
    labels = [label for label, _ in rows]
    samples = [values for _, values in rows]
    ax.boxplot(samples, orientation="horizontal", showfliers=False, widths=0.5)
    for i, values in enumerate(samples, start=1):
        ax.scatter(values, [i + (hash(str(v)) % 100 - 50) / 400 for v in values], s=4, alpha=0.35)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xlabel("milliseconds")
    if log:
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)


def plot_serve_latency(results: Path) -> Path | None:
    data = load(results, "serve")
    if data is None or "latency" not in data:
        return None
    lat = data["latency"]
    rows = [
        ("direct SDK call (baseline)", lat["direct_sdk_call"]["samples_ms"]),
        ("print(1), stdio", lat["stdio_trivial"]["samples_ms"]),
        ("print(1), HTTP", lat["http_trivial"]["samples_ms"]),
        ("one tool call, stdio", lat["stdio_one_call"]["samples_ms"]),
        ("gather of 20 calls, stdio", lat["stdio_gather_20"]["samples_ms"]),
        ("print(1), no warm pool", lat["stdio_trivial_cold"]["samples_ms"]),
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    distributions(ax, rows, log=True)
    ax.set_title("execute_code through `ptc-gateway serve`, one call every 200 ms", fontsize=11)
    fig.suptitle(subtitle(data), fontsize=7, y=0.02)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return save(fig, results / "serve_latency.png")


def plot_concurrency(results: Path) -> Path | None:
    data = load(results, "serve")
    if data is None or "concurrency" not in data:
        return None
    conc = data["concurrency"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, label in (
        ("concurrency_fixed_pool", "pool fixed at 2 (baseline)"),
        ("concurrency", "pool grows (default)"),
    ):
        rows = conc.get(key)
        if not rows:
            continue
        clients = [r["clients"] for r in rows]
        left.plot(clients, [r["throughput_per_s"] for r in rows], marker="o", label=label)
        right.plot(clients, [r.get("p95_ms", 0) for r in rows], marker="o", label=label)
    left.set_title("throughput (executions/s)", fontsize=10)
    right.set_title("p95 latency (ms)", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("concurrent HTTP clients (code with 5 tool calls)")
        ax.set_xticks([1, 5, 20])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(subtitle(data), fontsize=7, y=0.02)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return save(fig, results / "serve_concurrency.png")


def plot_rss(results: Path) -> Path | None:
    data = load(results, "serve")
    if data is None or "concurrency" not in data:
        return None
    rss = data["concurrency"]["rss"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([r["executions"] for r in rss], [r["rss_mb"] for r in rss], marker="o")
    ax.axhline(rss[0]["rss_mb"], linestyle="--", alpha=0.5, label="idle (baseline)")
    ax.set_xlabel("executions")
    ax.set_ylabel("gateway RSS (MB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("gateway memory, five-server fleet and warm pool", fontsize=10)
    fig.suptitle(subtitle(data), fontsize=7, y=0.02)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, results / "serve_rss.png")


def plot_sandbox(results: Path) -> list[Path]:
    data = load(results, "sandbox")
    out: list[Path] = []
    if data is None:
        return out
    starts = data.get("starts", {})
    if all("samples_ms" in starts.get(k, {}) for k in ("warm", "cold", "docker_run")):
        fig, ax = plt.subplots(figsize=(8, 3))
        distributions(
            ax,
            [
                ("plain `docker run` (baseline)", starts["docker_run"]["samples_ms"]),
                ("cold container", starts["cold"]["samples_ms"]),
                ("warm pool", starts["warm"]["samples_ms"]),
            ],
            log=True,
        )
        ax.set_title("start of the model's code (acquire -> `started`)", fontsize=11)
        fig.suptitle(subtitle(data), fontsize=7, y=0.02)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        out.append(save(fig, results / "sandbox_starts.png"))
    bridge = data.get("bridge", {})
    if all("samples_ms" in bridge.get(k, {}) for k in ("direct_sdk", "through_sandbox", "local_process")):
        fig, ax = plt.subplots(figsize=(8, 3))
        distributions(
            ax,
            [
                ("direct MCP SDK call (baseline)", bridge["direct_sdk"]["samples_ms"]),
                ("bridged, local-process", bridge["local_process"]["samples_ms"]),
                ("bridged, Docker", bridge["through_sandbox"]["samples_ms"]),
            ],
        )
        ax.set_title("one tool call (server-everything `echo`), sequential", fontsize=11)
        fig.suptitle(subtitle(data), fontsize=7, y=0.02)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        out.append(save(fig, results / "sandbox_bridge.png"))
    fan = data.get("fan_out")
    if fan:
        fig, ax = plt.subplots(figsize=(7, 3))
        names = list(fan)
        ax.barh(names, [fan[n]["gather_100_ms"] for n in names], label="gather of 100")
        ax.barh(names, [fan[n]["one_call_ms"] for n in names], label="one call", alpha=0.8)
        ax.set_xlabel("milliseconds (each call sleeps 100 ms)")
        ax.legend(fontsize=7)
        ax.set_title("fan-out: asyncio.gather of 100 tool calls", fontsize=11)
        fig.suptitle(subtitle(data), fontsize=7, y=0.02)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        out.append(save(fig, results / "sandbox_fan_out.png"))
    return out


def plot_tokens(results: Path) -> Path | None:
    data = load(results, "ptc_vs_classic_docker") or load(results, "ptc_vs_classic_local-process")
    if data is None:
        return None
    runs = data["runs"]
    scenarios = sorted({r["scenario"] for r in runs})
    modes = [m for m in ("classic", "classic-parallel", "ptc") if any(r["mode"] == m for r in runs)]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = [
            next((r["total_input_tokens"] for r in runs if r["scenario"] == s and r["mode"] == mode), 0)
            for s in scenarios
        ]
        label = f"{mode} (baseline)" if mode == "classic" else mode
        ax.bar([x + i * width for x in range(len(scenarios))], values, width, label=label)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(scenarios))], scenarios)
    ax.set_yscale("log")
    ax.set_ylabel("input tokens (estimated), log")
    ax.legend(fontsize=7)
    ax.set_title("tokens: programmatic tool calling vs classic tool calling", fontsize=11)
    meta = data["meta"]
    fig.suptitle(f"{meta['date']} · load {meta['load_average_1m']} · {meta['tokens']}"[:150], fontsize=7, y=0.02)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, results / "tokens_ptc_vs_classic.png")


def save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot: wrote {path}", file=sys.stderr)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    plot_serve_latency(args.results)
    plot_concurrency(args.results)
    plot_rss(args.results)
    plot_sandbox(args.results)
    plot_tokens(args.results)


if __name__ == "__main__":
    main()
