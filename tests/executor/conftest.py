"""The sandbox backends every executor test runs against.

To add a backend, add a factory to `BACKEND_FACTORIES` (a test that needs infrastructure calls
`tests._support.require` inside its factory so it fails under CI instead of skipping).

The AgentCore backend (against the local endpoint, `tests/agentcore`) reruns only a behavioural
subset: `AGENTCORE_TESTS` on its session-API channel, the smaller `CONNECT_BACK_TESTS` on its
connect-back channel. The rest exercise the executor and the runner, which are the same code
whatever carries the bytes; they are deselected for it (not skipped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from gateway.sandbox import BaseSandboxBackend, LocalProcessBackend
from tests.agentcore.fixtures import agentcore

__all__ = ["AGENTCORE_TESTS", "BACKEND_FACTORIES", "CONNECT_BACK_TESTS", "agentcore", "sandbox_backend"]


def _local() -> BaseSandboxBackend:
    return LocalProcessBackend()


def _docker() -> BaseSandboxBackend:
    from gateway.config import ExecutionLimits
    from gateway.sandbox import DockerSandboxBackend
    from tests.sandbox._docker import docker_settings

    return DockerSandboxBackend(docker_settings(), ExecutionLimits())


def _agentcore() -> BaseSandboxBackend:
    from gateway.config import ExecutionLimits, SandboxSettings
    from gateway.sandbox import AgentCoreSandboxBackend

    return AgentCoreSandboxBackend(SandboxSettings(backend="agentcore", pool_size=0), ExecutionLimits())


def _agentcore_connect_back() -> BaseSandboxBackend:
    from gateway.config import ExecutionLimits, SandboxSettings
    from gateway.sandbox import AgentCoreSandboxBackend
    from tests.agentcore.endpoint import PUBLIC_CODE_INTERPRETER

    agentcore = {"channel": "connect-back", "code_interpreter_id": PUBLIC_CODE_INTERPRETER}
    return AgentCoreSandboxBackend(
        SandboxSettings(backend="agentcore", pool_size=0, agentcore=agentcore), ExecutionLimits()
    )


BACKEND_FACTORIES: dict[str, Callable[[], BaseSandboxBackend]] = {
    "local": _local,
    "docker": _docker,
    "agentcore": _agentcore,
    "agentcore-connect-back": _agentcore_connect_back,
}
_AGENTCORE_BACKENDS = frozenset({"agentcore", "agentcore-connect-back"})

AGENTCORE_TESTS = frozenset(
    {
        "test_prints_and_returns_ok",
        "test_gather_of_many_calls",
        "test_tool_error_is_catchable_in_the_code",
        "test_uncaught_tool_error_fails_with_kind_tool",
        "test_traceback_points_at_the_models_lines",
        "test_forged_frames_in_output_are_just_output",
        "test_output_is_capped_with_a_marker",
        "test_tool_call_timeout_is_a_tool_error",
        "test_call_cap",
        "test_result_size_cap_fails_only_that_call",
        "test_unknown_tool_is_a_protocol_violation",
        "test_oversized_frame_is_refused",
        "test_malformed_frames_are_protocol_violations",
        "test_runner_dying_is_a_crash",
        "test_100_mb_printed_is_capped",
        "test_subprocesses_inherit_no_protocol_channel",
        "test_an_execution_with_tool_calls",
        "test_failures",
    }
)
"""The behavioural tests that also run against the AgentCore backend. The two timeout tests with 1 s
budgets are left out (a channel round trip is tens of milliseconds locally, more on the service):
tests/agentcore/test_backend.py has its own with room to spare."""


CONNECT_BACK_TESTS = frozenset(
    {
        "test_prints_and_returns_ok",
        "test_gather_of_many_calls",
        "test_tool_error_is_catchable_in_the_code",
        "test_output_is_capped_with_a_marker",
        "test_malformed_frames_are_protocol_violations",
        "test_runner_dying_is_a_crash",
        "test_an_execution_with_tool_calls",
        "test_failures",
    }
)
"""The smaller subset for the connect-back channel: past the connection it is a plain byte stream."""


def _selected(backend: object, name: str) -> bool:
    if backend == "agentcore":
        return name in AGENTCORE_TESTS
    if backend == "agentcore-connect-back":
        return name in CONNECT_BACK_TESTS
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("sandbox_backend") if callspec is not None else None
        name = getattr(item, "originalname", item.name)
        (keep if _selected(backend, name) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
async def sandbox_backend(request: pytest.FixtureRequest) -> AsyncIterator[BaseSandboxBackend]:
    """A started backend, closed after the test (its sandboxes too)."""
    if request.param in _AGENTCORE_BACKENDS:
        request.getfixturevalue("agentcore")  # the local endpoint, reached through the environment
    backend = BACKEND_FACTORIES[request.param]()
    enter = getattr(backend, "__aenter__", None)  # backends with a warm pool start it on entry
    try:
        if enter is not None:
            await enter()
        yield backend
    finally:
        await backend.aclose()
