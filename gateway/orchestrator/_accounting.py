"""Per-run accounting: turns, tokens, tool calls, context bytes, wall time."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Literal

from gateway.models import ModelResponse
from gateway.tools import JsonObject

__all__ = ["Mode", "RunResult", "RunStats", "Stop"]

Mode = Literal["ptc", "classic"]
Stop = Literal["answered", "max_turns", "timeout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStats:
    """What one run cost."""

    mode: Mode
    model_id: str
    turns: int
    """Model requests made."""
    input_tokens: int
    """Uncached input tokens, summed over turns (as Bedrock reports `inputTokens`)."""
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    tool_calls: int
    """Upstream MCP tool calls: made by the model's code (PTC) or by the model itself (classic)."""
    executions: int = 0
    """`execute_code` runs (PTC only)."""
    tool_output_bytes: int
    """Bytes of tool output that entered the model's context (after capping)."""
    wall_time_s: float

    @property
    def total_input_tokens(self) -> int:
        """Every input token the model processed: uncached + cache reads + cache writes."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_write_input_tokens

    def to_json(self) -> JsonObject:
        """A JSON-ready dict (with `total_input_tokens`)."""
        data: JsonObject = dict(asdict(self))
        data["total_input_tokens"] = self.total_input_tokens
        return data

    def summary(self) -> str:
        """A few human lines."""
        cache = ""
        if self.cache_read_input_tokens or self.cache_write_input_tokens:
            cache = f" (+{self.cache_read_input_tokens:,} cache read, {self.cache_write_input_tokens:,} cache write)"
        executions = f" in {self.executions} execution{'s' * (self.executions != 1)}" if self.mode == "ptc" else ""
        return (
            f"{self.mode} · {self.model_id}\n"
            f"  model turns   {self.turns}\n"
            f"  input tokens  {self.input_tokens:,}{cache}\n"
            f"  output tokens {self.output_tokens:,}\n"
            f"  tool calls    {self.tool_calls}{executions}\n"
            f"  tool output   {self.tool_output_bytes:,} bytes into the model's context\n"
            f"  wall time     {self.wall_time_s:.2f} s"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The answer and what it cost."""

    answer: str
    stop: Stop
    """`answered`, or why the run ended without an answer."""
    stats: RunStats

    def to_json(self) -> JsonObject:
        """`{"answer", "stop", "stats"}`."""
        return {"answer": self.answer, "stop": self.stop, "stats": self.stats.to_json()}


@dataclass(slots=True, kw_only=True)
class Meter:
    """Mutable counters for one run in progress (private to the loop that owns it)."""

    mode: Mode
    model_id: str
    started: float = field(default_factory=time.perf_counter)
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    tool_calls: int = 0
    executions: int = 0
    tool_output_bytes: int = 0

    def add_response(self, response: ModelResponse) -> None:
        """Count one model turn."""
        self.turns += 1
        self.input_tokens += response.usage.input_tokens
        self.output_tokens += response.usage.output_tokens
        self.cache_read += response.usage.cache_read_input_tokens
        self.cache_write += response.usage.cache_write_input_tokens

    def add_output(self, text: str) -> None:
        """Count tool output that goes into the context."""
        self.tool_output_bytes += len(text.encode())

    def freeze(self) -> RunStats:
        """The final numbers."""
        return RunStats(
            mode=self.mode,
            model_id=self.model_id,
            turns=self.turns,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_input_tokens=self.cache_read,
            cache_write_input_tokens=self.cache_write,
            tool_calls=self.tool_calls,
            executions=self.executions,
            tool_output_bytes=self.tool_output_bytes,
            wall_time_s=round(time.perf_counter() - self.started, 4),
        )
