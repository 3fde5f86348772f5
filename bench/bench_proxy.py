"""Proxy overhead: what `ptc-gateway proxy` adds to a request, against the same request sent straight to the endpoint.

    .venv/bin/python bench/bench_proxy.py [--requests 300] [--out bench/results/proxy]

The local Bedrock-compatible endpoint of `tests/bedrock` plays the model (a fixed short reply)
in a thread of this process. The proxy runs as its own process (`python -m gateway.cli proxy`).
Interleaved, one at a time, for each of:

1. non-streaming: boto3 `invoke_model` straight to the endpoint (Anthropic body) vs an HTTP
   `POST /v1/messages` to the proxy (keep-alive connection, `x-api-key`) with the same message;
2. streaming: time to the first content event, boto3 `invoke_model_with_response_stream` (first
   `content_block_delta` chunk) vs `"stream": true` through the proxy (first `content_block_delta`).

Overhead = p50 via the proxy - p50 direct (goal <= 3 ms p50 added, both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stats import summary_ms  # noqa: E402
from tests.bedrock.endpoint import Reply, Turn, run_endpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
MODEL = "claude-haiku-4-5"
BEDROCK_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
GOAL_MS = 3.0


def model(turn: Turn) -> Reply:
    return Reply(text="The answer is forty-two, as always.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "proxy"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with run_endpoint(model) as endpoint, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PTC_")} | endpoint.env()
        os.environ.update(endpoint.env())
        config = Path(tmp) / "gateway.toml"
        config.write_text("[sandbox]\nbackend = 'local-process'\npool_size = 0\n", encoding="utf-8")
        log = Path(tmp) / "proxy.log"
        with log.open("wb") as sink:
            proxy = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "proxy", "--port", "0", "--config", str(config)],
                env={**env, "PTC_API_KEYS": KEY},
                stderr=sink,
                cwd=ROOT,
            )
        try:
            deadline = time.monotonic() + 60
            while (match := re.search(rb"proxy on (http://\S+)", log.read_bytes())) is None:
                if proxy.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the proxy did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
            url = match[1].decode()
            results = run(url, args.requests)
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)
    write(results, args.out, load)


def run(url: str, n: int) -> dict[str, Any]:
    client: Any = boto3.client("bedrock-runtime")
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "What is the answer?"}],
    }
    request = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "What is the answer?"}]}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    direct: list[float] = []
    proxied: list[float] = []
    direct_ttft: list[float] = []
    proxied_ttft: list[float] = []
    with httpx2.Client(base_url=url, headers=headers, timeout=30) as http:
        for _ in range(20):  # warm-up: connections, imports, first boto3 client use
            client.invoke_model(modelId=BEDROCK_ID, body=json.dumps(body))["body"].read()
            http.post("/v1/messages", json=request).raise_for_status()
        for _ in range(n):
            t0 = time.perf_counter()
            client.invoke_model(modelId=BEDROCK_ID, body=json.dumps(body))["body"].read()
            direct.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            response = http.post("/v1/messages", json=request)
            response.raise_for_status()
            response.json()
            proxied.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            stream = client.invoke_model_with_response_stream(modelId=BEDROCK_ID, body=json.dumps(body))["body"]
            for event in stream:
                if b'"content_block_delta"' in event["chunk"]["bytes"]:
                    direct_ttft.append(time.perf_counter() - t0)
                    break
            for _event in stream:
                pass

            t0 = time.perf_counter()
            with http.stream("POST", "/v1/messages", json={**request, "stream": True}) as streamed:
                first = True
                for text in streamed.iter_lines():
                    if first and text.startswith("event: content_block_delta"):
                        proxied_ttft.append(time.perf_counter() - t0)
                        first = False
    return {
        "non_streaming": {"direct": summary_ms(direct, samples=False), "proxy": summary_ms(proxied, samples=False)},
        "time_to_first_token": {
            "direct": summary_ms(direct_ttft, samples=False),
            "proxy": summary_ms(proxied_ttft, samples=False),
        },
    }


def write(results: dict[str, Any], out: str, load: float) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Proxy overhead",
        "",
        f"Measured {when} on {platform.machine()}, {os.cpu_count()} CPUs (shared with other work: load average "
        f"{load:.1f} at start), Python {platform.python_version()} with `bench/bench_proxy.py` (one run). The local "
        "Bedrock-compatible endpoint (`tests/bedrock`) plays the model in a thread of the benchmark; the proxy is "
        "its own process (`ptc-gateway proxy`, local-process sandbox, telemetry off). Requests are interleaved, "
        "one at a time.",
        "",
        "| measure | path | n | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    verdicts: list[str] = []
    for name, label in (("non_streaming", "whole response"), ("time_to_first_token", "time to first token")):
        direct, proxy = results[name]["direct"], results[name]["proxy"]
        for path, row in (("straight to the endpoint (boto3)", direct), ("through the proxy (HTTP)", proxy)):
            lines.append(f"| {label} | {path} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} | {row['mean_ms']} |")
        added = round(proxy["p50_ms"] - direct["p50_ms"], 3)
        results[name]["added_p50_ms"] = added
        verdicts.append(
            f"{label}: **+{added} ms** p50 added ({'met' if added <= GOAL_MS else 'missed'}: goal <= {GOAL_MS:g} ms)"
        )
    lines += ["", *[f"- {v}" for v in verdicts], ""]
    Path(out + ".md").write_text("\n".join(lines), encoding="utf-8")
    Path(out + ".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
