"""Golden files: the exact text the model sees is product surface.

Regenerate after an intended change with `PTC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stubs` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "stubs"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PTC_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with PTC_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file; run with PTC_UPDATE_GOLDEN=1 and review the diff"
