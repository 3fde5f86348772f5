"""The checks behind `ptc-gateway doctor`: one `Check` per thing the configured gateway needs.

Each check is an async function of the settings returning `Check` records; none raises for what
it finds (a broken set-up is a result, not an error). Blocking SDK calls (Docker, boto3) run in
worker threads; every probe is bounded in time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from gateway.config import GatewaySettings, RemoteServerConfig, StdioServerConfig
from gateway.errors import GatewayError
from gateway.sandbox import ENGINE_FIX, engine_info, image_status
from gateway.upstream import connect_fleet

__all__ = [
    "Check",
    "CheckState",
    "check_aws",
    "check_docker",
    "check_otel",
    "check_servers",
    "run_checks",
]

CheckState = Literal["ok", "warn", "fail", "skip"]
"""`warn`: works, but something should be fixed; only `fail` makes `doctor` exit non-zero."""

ENGINE_TIMEOUT_S = 10.0
SERVER_READY_TIMEOUT_S = 60.0
OTEL_CONNECT_TIMEOUT_S = 5.0
_MAX_DETAIL_CHARS = 300
_OTEL_ENDPOINT_KEYS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """The outcome of one check: what was checked, what was found, and the fix when it is wrong."""

    name: str
    state: CheckState
    detail: str
    fix: str | None = None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL_CHARS else line[: _MAX_DETAIL_CHARS - 1] + "…"


def _backend(settings: GatewaySettings) -> str:
    # A plain string: backends added by other modules (e.g. "agentcore") are compared by name.
    return str(settings.sandbox.backend)


async def check_docker(settings: GatewaySettings) -> list[Check]:
    """The engine (reachable, version, cgroup version, runtime) and the sandbox image."""
    backend = _backend(settings)
    if backend != "docker":
        return [Check(name="docker engine", state="skip", detail=f"not needed ([sandbox] backend = {backend!r})")]
    where = settings.sandbox.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        info = await anyio.to_thread.run_sync(
            partial(engine_info, settings.sandbox.docker_host, timeout_s=ENGINE_TIMEOUT_S)
        )
    except GatewayError as e:
        return [
            Check(
                name="docker engine", state="fail", detail=_one_line(f"not reachable at {where}: {e}"), fix=ENGINE_FIX
            ),
            Check(name="sandbox image", state="skip", detail="needs the engine"),
        ]
    runtimes = cast(Mapping[str, Any], info.get("Runtimes") or {})
    runtime = settings.sandbox.runtime or str(info.get("DefaultRuntime") or "runc")
    detail = (
        f"{info.get('ServerVersion', '?')} at {where}; cgroup v{info.get('CgroupVersion') or '1'} "
        f"({info.get('CgroupDriver', '?')}); runtime {runtime}"
    )
    checks = [Check(name="docker engine", state="ok", detail=detail)]
    if runtimes and runtime not in runtimes:
        checks[0] = Check(
            name="docker engine",
            state="fail",
            detail=f"{detail}: the engine has no runtime {runtime!r} (it has {', '.join(sorted(runtimes))})",
            fix=f"install {runtime} and register it with the engine, or change [sandbox] runtime",
        )
    checks.append(await _check_image(settings))
    return checks


async def _check_image(settings: GatewaySettings) -> Check:
    tag = settings.sandbox.image
    name = f"sandbox image {tag}"
    try:
        state = await image_status(tag, docker_host=settings.sandbox.docker_host)
    except GatewayError as e:
        return Check(name=name, state="fail", detail=_one_line(str(e)), fix="ptc-gateway image build")
    match state:
        case "current":
            return Check(name=name, state="ok", detail="current (this version's runtime and recipe)")
        case "stale":
            return Check(
                name=name,
                state="warn",
                detail="stale: built by another version or recipe (it works: the current runtime is injected at start)",
                fix=f"ptc-gateway image build --tag {tag}",
            )
        case "missing":
            return Check(name=name, state="fail", detail="missing", fix=f"ptc-gateway image build --tag {tag}")


async def check_servers(settings: GatewaySettings, *, timeout_s: float = SERVER_READY_TIMEOUT_S) -> list[Check]:
    """Every configured server, each on its own: connects, how many tools, how long until ready."""
    servers = settings.resolved_servers()
    if not servers:
        return [
            Check(name="servers", state="warn", detail="none configured", fix="add [servers.NAME] or --servers FILE")
        ]
    results: dict[str, Check] = {}
    async with anyio.create_task_group() as tg:
        for name, config in servers.items():
            tg.start_soon(_check_server, name, config, timeout_s, results)
    return [results[name] for name in servers]


async def _check_server(
    name: str, config: StdioServerConfig | RemoteServerConfig, timeout_s: float, results: dict[str, Check]
) -> None:
    label = f"server {name}"
    where = f"[servers.{name}] {'url' if isinstance(config, RemoteServerConfig) else 'command'}"
    started = time.perf_counter()
    async with connect_fleet({name: config}) as fleet:
        try:
            await fleet.wait_ready(timeout_s)
        except TimeoutError:
            results[name] = Check(
                name=label,
                state="fail",
                detail=f"not ready after {timeout_s:.0f} s",
                fix=f"check {where}; run the server by hand to see what it waits for",
            )
            return
        elapsed = time.perf_counter() - started
        status = fleet.status()[name]
    if status.state == "ready":
        protocol = f", protocol {status.protocol_version}" if status.protocol_version else ""
        results[name] = Check(
            name=label, state="ok", detail=f"{status.tool_count} tools, ready in {elapsed:.2f} s{protocol}"
        )
    else:
        results[name] = Check(
            name=label,
            state="fail",
            detail=_one_line(f"{status.state}: {status.error or 'no connection'}"),
            fix=f"check {where}; run the server by hand to see its error",
        )


def _model_configured(settings: GatewaySettings) -> bool:
    return bool(settings.model.model_fields_set)


def _agentcore_setting(settings: GatewaySettings, key: str) -> str | None:
    # `[sandbox.agentcore]` (region, profile) comes with the AgentCore backend; read by name.
    agentcore: Any = getattr(settings.sandbox, "agentcore", None)
    value: Any = getattr(agentcore, key, None)
    return str(value) if value else None


async def check_aws(settings: GatewaySettings) -> list[Check]:
    """AWS credentials and region, when a model ([model]) or the AgentCore backend is configured."""
    users = [
        *(["[model]"] if _model_configured(settings) else []),
        *(["the AgentCore backend"] if _backend(settings) == "agentcore" else []),
    ]
    if not users:
        return [Check(name="aws", state="skip", detail="not needed (no [model] and no AgentCore backend configured)")]
    region = settings.model.region or _agentcore_setting(settings, "region")
    profile = settings.model.profile or _agentcore_setting(settings, "profile")
    return [await anyio.to_thread.run_sync(partial(_aws_facts, profile, region, " and ".join(users)))]


def _aws_facts(profile: str | None, region: str | None, users: str) -> Check:
    # Only local resolution (environment, files, SSO cache, container/instance providers as configured):
    # no request is sent to an AWS API.
    import boto3  # pyright: ignore[reportMissingTypeStubs]
    import botocore.exceptions  # pyright: ignore[reportMissingTypeStubs]

    try:
        session: Any = boto3.Session(profile_name=profile)
        credentials: Any = session.get_credentials()
    except botocore.exceptions.BotoCoreError as e:  # every botocore configuration error
        return Check(name="aws", state="fail", detail=_one_line(f"for {users}: {e}"), fix="fix ~/.aws/config")
    # botocore reads AWS_DEFAULT_REGION; the gateway (like the other AWS SDKs) reads AWS_REGION too.
    region = region or os.environ.get("AWS_REGION") or cast(str | None, session.region_name)
    problems: list[str] = []
    fixes: list[str] = []
    if credentials is None:
        problems.append("no credentials found")
        fixes.append("set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`")
    if not region:
        problems.append("no region")
        fixes.append("set AWS_REGION or [model] region")
    if problems:
        return Check(name="aws", state="fail", detail=f"for {users}: {'; '.join(problems)}", fix="; ".join(fixes))
    method = str(getattr(credentials, "method", "unknown"))
    return Check(name="aws", state="ok", detail=f"for {users}: credentials from {method}, region {region}")


async def check_otel(env: Mapping[str, str]) -> list[Check]:
    """Every OTLP exporter endpoint that is set answers a TCP connection."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return [Check(name="otel exporter", state="skip", detail="OTEL_SDK_DISABLED=true")]
    endpoints = {key: env[key] for key in _OTEL_ENDPOINT_KEYS if env.get(key)}
    if not endpoints:
        return [Check(name="otel exporter", state="skip", detail="no OTLP endpoint set (tracing off)")]
    return [await _check_endpoint(key, url) for key, url in endpoints.items()]


async def _check_endpoint(key: str, url: str) -> Check:
    name = f"otel exporter {key}"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Check(name=name, state="fail", detail=_one_line(f"{url!r} is not a URL"), fix=f"correct {key}")
    host = parts.hostname
    if not host:
        return Check(name=name, state="fail", detail=_one_line(f"{url!r} names no host"), fix=f"correct {key}")
    try:
        with anyio.fail_after(OTEL_CONNECT_TIMEOUT_S):
            stream = await anyio.connect_tcp(host, port)
        await stream.aclose()
    except (OSError, TimeoutError) as e:
        reason = "timed out" if isinstance(e, TimeoutError) else e.strerror or str(e)
        return Check(
            name=name,
            state="fail",
            detail=_one_line(f"{url}: cannot connect ({reason})"),
            fix=f"start the collector at {host}:{port} or correct/unset {key}",
        )
    return Check(name=name, state="ok", detail=f"{url} accepts connections")


async def run_checks(settings: GatewaySettings, env: Mapping[str, str]) -> list[Check]:
    """Every check, concurrently; the results in a fixed order (engine, image, servers, AWS, OTel)."""
    checks: list[Callable[[], Awaitable[list[Check]]]] = [
        partial(check_docker, settings),
        partial(check_servers, settings),
        partial(check_aws, settings),
        partial(check_otel, env),
    ]
    results: list[list[Check]] = [[] for _ in checks]

    async def run(index: int) -> None:
        results[index] = await checks[index]()

    async with anyio.create_task_group() as tg:
        for index in range(len(checks)):
            tg.start_soon(run, index)
    return [check for group in results for check in group]
