"""The gateway image: starts, answers /healthz, runs the demo question with sibling sandboxes, leaves none."""

from __future__ import annotations

import json
import os
import subprocess

import anyio
import httpx2
import pytest

from tests.deploy._gateway import (
    DEMO_CODE,
    GATEWAY_CLI,
    SOCKET,
    answer_names,
    docker,
    gateway_container,
    gateway_image,
    mcp_client,
    remove_run_leftovers,
    sandboxes_of,
    structured,
)
from tests.examples.test_expenses_server import EXPECTED
from tests.sandbox._docker import TEST_IMAGE
from tests.server.conftest import ListChanged, ready_description

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def test_image_is_non_root_with_a_healthcheck_and_the_cli_entry_point() -> None:
    image = gateway_image()
    config = json.loads(docker("image", "inspect", image, "--format", "{{json .Config}}"))
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["ptc-gateway"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    # The package inside carries the sandbox recipe: `image status` through the socket gives the host's
    # answer for the same image (the shared test image may be rebuilt by other checkouts meanwhile).
    gid = str(os.stat(SOCKET).st_gid)
    inside = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--group-add", gid, "-v", f"{SOCKET}:{SOCKET}", image,
         "image", "status", "--tag", TEST_IMAGE],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    host = subprocess.run(
        [GATEWAY_CLI, "image", "status", "--tag", TEST_IMAGE], capture_output=True, text=True, timeout=60, check=False
    )
    assert (inside.returncode, inside.stdout) == (host.returncode, host.stdout), inside.stderr
    assert inside.stdout.strip() in (f"{TEST_IMAGE}: current", f"{TEST_IMAGE}: stale")


async def test_gateway_container_serves_the_demo_question_through_the_mounted_socket() -> None:
    gateway_image()
    try:
        async with gateway_container(pool_size=1) as gateway:
            async with httpx2.AsyncClient() as http:
                health = await http.get(f"http://127.0.0.1:{gateway.port}/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            # The image's own HEALTHCHECK command, run inside the container, passes.
            test = json.loads(docker("inspect", gateway.id, "--format", "{{json .Config.Healthcheck.Test}}"))
            assert test[0] == "CMD"
            docker("exec", gateway.id, *test[1:])
            assert docker("exec", gateway.id, "id", "-u") == "10001"

            changes = ListChanged()
            with anyio.fail_after(120):
                async with mcp_client(gateway.url, mode="legacy", changes=changes) as client:
                    assert "async def get_expenses" in await ready_description(client, changes)
                    result = await client.call_tool("execute_code", {"code": DEMO_CODE})
            content = structured(result)
            assert content["error"] is None, content
            assert content["tool_calls"] == 33
            assert answer_names(str(content["stdout"])) == EXPECTED
            # The sandboxes are siblings on the host's engine, labelled with the gateway's container.
            assert sandboxes_of(gateway.id), "no sandbox container was started through the socket"
        # Stopped with SIGTERM: the gateway removed every sandbox container it had started.
        assert sandboxes_of(gateway.id) == []
    finally:
        remove_run_leftovers()
