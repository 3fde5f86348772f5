"""`LazyBotoClient`: one boto3 client, built on first use off the event loop, closed once.

Every AWS caller (the Bedrock model clients, the proxy's Messages client, the AgentCore backend)
needs the same things from boto3: the standard credential chain with an optional named profile,
the region from settings or else `AWS_REGION`/`AWS_DEFAULT_REGION`, the endpoint from the chain
(`AWS_ENDPOINT_URL_<SERVICE>` or the profile), client construction in a worker thread (it reads
service models from disk), and a close that releases the connection pool. botocore types stop
here and in the modules that make the calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, cast

import anyio
import anyio.to_thread
import boto3  # pyright: ignore[reportMissingTypeStubs]
import botocore.config  # pyright: ignore[reportMissingTypeStubs]
import botocore.exceptions  # pyright: ignore[reportMissingTypeStubs]

from gateway.errors import ConfigError, GatewayError

__all__ = ["BotoClientOptions", "LazyBotoClient"]


class _Closeable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closeable)


@dataclass(frozen=True, slots=True)
class BotoClientOptions:
    """How one boto3 client is configured (retry mode, timeouts, pool size)."""

    max_attempts: int = 1
    """botocore's `total_max_attempts` (1: the caller retries, or nobody does)."""
    retry_mode: Literal["standard", "adaptive"] = "standard"
    read_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_pool_connections: int = 10


class LazyBotoClient(Generic[ClientT]):
    """A boto3 client for `service`, built on first `get()` and rebuilt after `aclose()`.

    `profile_key` names the settings key of the profile in the error when the profile does not
    exist; `on_error` maps any other botocore failure while building (no region, a broken config
    file) to the caller's error type.
    """

    def __init__(
        self,
        service: str,
        *,
        region: str | None,
        profile: str | None,
        profile_key: str,
        options: BotoClientOptions,
        on_error: Callable[[Exception], GatewayError],
    ) -> None:
        self.service = service
        self.region = region
        self.profile = profile
        self._profile_key = profile_key
        self._options = options
        self._on_error = on_error
        self._client: ClientT | None = None
        self._lock = anyio.Lock()

    def _build(self) -> ClientT:
        o = self._options
        config = botocore.config.Config(
            retries={"mode": o.retry_mode, "total_max_attempts": o.max_attempts},
            read_timeout=o.read_timeout_s,
            connect_timeout=o.connect_timeout_s,
            max_pool_connections=o.max_pool_connections,
        )
        try:
            # botocore reads AWS_DEFAULT_REGION; the other AWS SDKs and CLIs read AWS_REGION too.
            region = self.region or os.environ.get("AWS_REGION") or None
            session = boto3.Session(profile_name=self.profile, region_name=region)
            client: object = session.client(self.service, config=config)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        except botocore.exceptions.ProfileNotFound as e:
            raise ConfigError(f"AWS profile {self.profile!r} not found", key=self._profile_key) from e
        except botocore.exceptions.BotoCoreError as e:
            raise self._on_error(e) from e
        return cast(ClientT, client)

    async def get(self) -> ClientT:
        """The client, built in a worker thread on first use."""
        async with self._lock:
            if self._client is None:
                self._client = await anyio.to_thread.run_sync(self._build)
            return self._client

    async def aclose(self) -> None:
        """Close the client's connection pool (in a worker thread); the next `get()` builds a new one."""
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)
