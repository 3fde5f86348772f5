"""`container.id`: an opaque, HMAC-signed handle naming a paused execution and the replica holding it.

`container_<payload>.<signature>`, where the payload is base64url JSON `{"r": replica, "e": execution,
"b": backend}` and the signature is HMAC-SHA256 over it with `[proxy] container_secret`. A handle
that does not verify is refused before anything is looked up, so a client cannot probe or resume
another client's execution by guessing ids. The replica id lets a load balancer route a resume to
the replica that holds the execution (see docs/proxy.md, "Several replicas").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from gateway.proxy._errors import ApiError

__all__ = ["ContainerHandle", "HandleCodec"]

_PREFIX = "container_"
_SHAPE = re.compile(r"^container_([A-Za-z0-9_-]{8,512})\.([A-Za-z0-9_-]{43})$")
_FIELD = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerHandle:
    """What a `container.id` says."""

    replica: str
    execution: str
    backend: str
    """The sandbox backend running it (`docker`, `local-process`; a resumable backend can be resumed anywhere)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class HandleCodec:
    """Signs and verifies handles with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def encode(self, handle: ContainerHandle) -> str:
        """The `container.id` for `handle`."""
        raw = json.dumps({"r": handle.replica, "e": handle.execution, "b": handle.backend}, separators=(",", ":"))
        payload = _b64(raw.encode())
        return f"{_PREFIX}{payload}.{self._sign(payload)}"

    def decode(self, value: object) -> ContainerHandle:
        """The handle inside a `container.id`; 400 when it is malformed or not signed by this deployment."""
        match = _SHAPE.match(value) if isinstance(value, str) else None
        if match is None or not hmac.compare_digest(self._sign(match[1]), match[2]):
            raise ApiError(
                "invalid_request_error",
                "container: not a container id issued by this proxy deployment (malformed, or signed with "
                "another [proxy] container_secret)",
            )
        try:
            data = json.loads(base64.urlsafe_b64decode(match[1] + "=" * (-len(match[1]) % 4)))
            fields = (data["r"], data["e"], data["b"])
        except (ValueError, KeyError, TypeError) as e:  # signed by us, so only a bug gets here
            raise ApiError("invalid_request_error", "container: unreadable container id") from e
        if not all(isinstance(f, str) and _FIELD.match(f) for f in fields):
            raise ApiError("invalid_request_error", "container: unreadable container id")
        return ContainerHandle(replica=fields[0], execution=fields[1], backend=fields[2])
