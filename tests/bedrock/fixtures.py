"""The `bedrock` fixture: start a local endpoint with a scripted model and point boto3 at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.bedrock.endpoint import Endpoint, ScriptedModel, run_endpoint

__all__ = ["bedrock"]


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[ScriptedModel], Endpoint]]:
    """`serve(model)` starts an endpoint for `model` and sets the AWS environment to reach it."""
    with ExitStack() as stack:

        def serve(model: ScriptedModel) -> Endpoint:
            endpoint = stack.enter_context(run_endpoint(model))
            for key, value in endpoint.env().items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("AWS_PROFILE", raising=False)
            return endpoint

        yield serve
