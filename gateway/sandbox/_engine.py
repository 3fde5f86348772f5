"""The Docker SDK behind a narrow typed facade; SDK types and errors stop here.

The `docker` package is untyped, so the few low-level `APIClient` calls we make are declared in
`EngineApi` and every SDK exception is mapped to our error tree by `engine_errors`. Every call is
blocking: callers run them with `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, cast

import docker
import docker.errors
import requests.exceptions

from gateway.errors import SandboxUnavailableError

__all__ = [
    "ENGINE_FIX",
    "IMAGE_FIX",
    "EngineApi",
    "EventStream",
    "close_event_stream",
    "ImageMissingError",
    "NotFoundError",
    "connect_engine",
    "engine_errors",
    "raw_socket",
]

ENGINE_FIX = "start one with `scripts/ensure-docker` (or start Docker yourself)"
IMAGE_FIX = "build it with `ptc-gateway image build`"


class EngineApi(Protocol):
    """The subset of `docker.APIClient` the gateway uses (all blocking)."""

    def version(self) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...
    def inspect_image(self, image: str) -> dict[str, Any]: ...
    def create_host_config(self, **kwargs: Any) -> dict[str, Any]: ...
    def create_container(self, image: str, **kwargs: Any) -> dict[str, Any]: ...
    def attach_socket(self, container: str, params: Mapping[str, Any] | None = None) -> Any: ...
    def start(self, container: str) -> None: ...
    def wait(self, container: str, timeout: int | None = None) -> dict[str, Any]: ...
    def logs(self, container: str, *, stdout: bool = True, stderr: bool = True) -> bytes: ...
    def inspect_container(self, container: str) -> dict[str, Any]: ...
    def pause(self, container: str) -> None: ...
    def unpause(self, container: str) -> None: ...
    def remove_container(self, container: str, *, v: bool = False, force: bool = False) -> None: ...
    def containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...  # noqa: A002
    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]: ...
    def pull(self, repository: str, tag: str | None = None, *, stream: bool = False, decode: bool = False) -> Any: ...
    def import_image(self, **kwargs: Any) -> Any: ...
    def tag(self, image: str, repository: str, tag: str | None = None) -> bool: ...
    def events(self, *, decode: bool = False, filters: Mapping[str, Any] | None = None) -> EventStream: ...
    def close(self) -> None: ...


class EventStream(Protocol):
    """The engine's event stream (`docker.types.CancellableStream`): blocking iteration; `close` ends it."""

    def __next__(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class NotFoundError(SandboxUnavailableError):
    """The container or image is gone (internal: callers usually ignore it)."""


class ImageMissingError(SandboxUnavailableError):
    """The configured image is not on the engine."""


@contextmanager
def engine_errors(action: str) -> Generator[None]:
    """Map SDK and transport errors raised while doing `action` to `SandboxUnavailableError`."""
    try:
        yield
    except docker.errors.ImageNotFound as e:
        raise ImageMissingError(f"{action}: image not found ({_explain(e)}); {IMAGE_FIX}") from e
    except docker.errors.NotFound as e:
        raise NotFoundError(f"{action}: {_explain(e)}") from e
    except docker.errors.APIError as e:
        raise SandboxUnavailableError(f"{action}: the Docker engine refused: {_explain(e)}") from e
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as e:
        raise SandboxUnavailableError(f"{action}: cannot reach the Docker engine ({e}); {ENGINE_FIX}") from e


def _explain(error: docker.errors.APIError | docker.errors.NotFound) -> str:
    explanation = cast(object, getattr(error, "explanation", None))
    return str(explanation) if explanation else str(error)


def connect_engine(docker_host: str | None, *, timeout_s: float = 60.0) -> EngineApi:
    """A low-level client to the engine, checked with a version call. Blocking."""
    address = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if address.startswith("unix://") and not os.path.exists(address.removeprefix("unix://")):
        # Checked here: the SDK would leak the socket of the failed connection.
        raise SandboxUnavailableError(f"no Docker engine socket at {address.removeprefix('unix://')}; {ENGINE_FIX}")
    with engine_errors("connecting to Docker"):
        if docker_host:
            client = docker.APIClient(base_url=docker_host, version="auto", timeout=int(timeout_s), max_pool_size=32)
        else:
            client = docker.from_env(version="auto", timeout=int(timeout_s), max_pool_size=32).api  # pyright: ignore[reportUnknownMemberType]
        api = cast(EngineApi, client)
        api.version()
    return api


def engine_info(docker_host: str | None, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """The engine's `docker info` (version, cgroup version and driver, runtimes). Blocking.

    Raises:
        SandboxUnavailableError: the engine cannot be reached (the message says how to fix it).
    """
    api = connect_engine(docker_host, timeout_s=timeout_s)
    try:
        with engine_errors("asking the engine for its configuration"):
            return api.info()
    finally:
        api.close()


def raw_socket(attached: object) -> tuple[socket.socket, Callable[[], None]]:
    """The plain socket under what `attach_socket` returned, and a function that closes all of it.

    The SDK hands back a `SocketIO` (holding a reference on the socket) kept alive by the HTTP
    response; closing only the socket would leave the descriptor open until garbage collection.
    """
    sock = getattr(attached, "_sock", attached)
    if type(sock) is not socket.socket:  # an SSLSocket cannot be read without blocking this way
        raise SandboxUnavailableError(
            "attaching to the sandbox needs a unix-socket or plain-TCP Docker host (TLS/SSH hosts are not supported)"
        )

    def close() -> None:
        for closable in (getattr(attached, "_response", None), attached, sock):
            close_method = getattr(closable, "close", None)
            if callable(close_method):
                try:
                    close_method()
                except (OSError, ValueError):  # already closed by the one before
                    pass

    return sock, close


def close_event_stream(stream: EventStream) -> None:
    """End an event stream: wake the thread blocked reading it and release its connection. Blocking.

    The SDK's `close` shuts the socket down but leaves the HTTP response (which holds a reference
    to the socket) open until garbage collection; close that too.
    """
    stream.close()
    response = getattr(stream, "_response", None)
    close_response = getattr(response, "close", None)
    if callable(close_response):
        try:
            close_response()
        except (OSError, ValueError):  # already torn down by the close above
            pass
