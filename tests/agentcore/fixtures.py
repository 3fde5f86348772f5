"""The `agentcore` fixture: a local AgentCore Code Interpreter endpoint boto3 reaches through the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentcore.endpoint import Endpoint, run_endpoint
from tests.sandbox._docker import TEST_IMAGE, docker_settings

__all__ = ["agentcore"]


@pytest.fixture
def agentcore(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """A running endpoint (sessions are local hardened containers); AWS variables point boto3 at it.

    At the end it checks that no session was left running: every test doubles as a leak test.
    """
    docker_settings()  # fails under CI / skips elsewhere without Docker and the image
    with run_endpoint(image=TEST_IMAGE) as endpoint:
        for key, value in endpoint.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
        yield endpoint
        assert endpoint.live_sessions() == [], "a test left AgentCore sessions running"
