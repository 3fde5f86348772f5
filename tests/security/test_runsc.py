"""Issue 14, item 7: `[sandbox] runtime = "runsc"` (gVisor) runs the behavioural sandbox subset.

Not the whole suite: the hardening, lifecycle and limits that do not depend on the runtime's
kernel are covered under runc. Here: the code runs on gVisor's kernel with our hardening (uid,
read-only root, no network, limits), tools work, a timeout kills it, a memory bomb is contained,
and nothing is left behind. The approval freeze runs under both runtimes in
`test_approval_freeze.py`.
"""

from __future__ import annotations

import os

import pytest

from gateway.config import ExecutionLimits
from tests.security._support import docker_backend, last_json, require_runtime, run_checked

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PROBE = """
import asyncio, json, os, platform, subprocess, threading
facts = {"release": platform.release(), "uid": os.getuid(), "interfaces": sorted(os.listdir("/sys/class/net"))}
try:
    open("/evil", "w")
    facts["write_root"] = "ok"
except OSError as e:
    facts["write_root"] = type(e).__name__
t = threading.Thread(target=lambda: None)
t.start(); t.join()
facts["subprocess"] = subprocess.run(["python3", "-c", "print(7)"], capture_output=True, text=True).stdout.strip()
facts["sum"] = (await calc.add(a=2, b=3))["sum"]
facts["gather"] = await asyncio.gather(*(calc.echo(text=str(i)) for i in range(5)))
print(json.dumps(facts))
"""


async def test_code_runs_on_gvisor_with_the_hardening() -> None:
    async with docker_backend(runtime=require_runtime("runsc")) as backend:
        facts = last_json(await run_checked(backend, PROBE))
        first, last = backend.settings.uid_range or (0, 0)
    assert facts["release"] != os.uname().release, facts  # gVisor's kernel, not the host's
    assert first <= facts["uid"] <= last
    assert facts["write_root"] != "ok"
    assert facts["interfaces"] == ["lo"] or facts["interfaces"] == [], facts
    assert facts["subprocess"] == "7"
    assert facts["sum"] == 5 and facts["gather"] == [0, 1, 2, 3, 4]  # echo results come back as JSON values


async def test_timeout_and_memory_limit_hold_on_gvisor() -> None:
    limits = ExecutionLimits(execution_timeout_s=3.0)
    async with docker_backend(runtime=require_runtime("runsc"), memory_mb=128) as backend:
        spin = await run_checked(backend, "while True:\n    pass\n", limits=limits)
        hoard = await run_checked(
            backend, "hoard = []\nwhile True:\n    hoard.append(bytearray(16 * 1024 * 1024))\n", limits=limits
        )
    assert spin.error is not None and spin.error.kind == "timeout", spin.error
    assert hoard.error is not None, hoard.stdout
    assert hoard.error.kind == "crash" or "MemoryError" in hoard.error.type, hoard.error
