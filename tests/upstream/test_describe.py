"""What a server says about itself becomes its namespace docstring."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.config import StdioServerConfig
from gateway.upstream import connect_fleet, describe_server

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("title", "instructions", "expected"),
    [
        (None, None, None),
        ("", "  \n", None),
        ("Demo HR", None, "Demo HR"),
        (None, "Use get_x first.\n", "Use get_x first."),
        (
            "  Demo HR ",
            "\nOffices and managers.\n\nIds match the expenses server.",
            "Demo HR\n\nOffices and managers.\n\nIds match the expenses server.",
        ),
    ],
)
def test_describe_server(title: str | None, instructions: str | None, expected: str | None) -> None:
    assert describe_server(title=title, instructions=instructions) == expected


@pytest.mark.anyio
async def test_a_2026_era_server_is_described_by_its_title_and_instructions() -> None:
    # The demo expenses server (Python SDK 2.x, protocol 2026-07-28) sends both.
    expenses = StdioServerConfig(command=sys.executable, args=[str(REPO / "examples" / "expenses_server.py")])
    async with connect_fleet({"expenses": expenses}) as fleet:
        await fleet.wait_ready(timeout_s=60)
        status = fleet.status()["expenses"]
        assert status.state == "ready" and status.protocol_version == "2026-07-28"
        description = fleet.descriptions()["expenses"]
        assert description.startswith("Demo expenses\n\nSynthetic company expenses for fiscal year")
        assert status.description == description
