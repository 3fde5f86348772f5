"""`container.id`: an opaque, HMAC-signed handle naming a paused execution and the replica holding it.

`container_<payload>.<signature>`, where the payload is base64url JSON `{"r": replica, "e": execution,
"b": backend}` and the signature is HMAC-SHA256 over it with `[proxy] container_secret`. A handle
that does not verify is refused before anything is looked up, so a client cannot probe or resume
another client's execution by guessing ids. The replica id lets a load balancer route a resume to
the replica that holds the execution (see docs/proxy.md, "Several replicas").

A handle of an execution that was detached from its replica (a backend that can detach, see
docs/proxy.md "Resuming on any replica") also carries `"s"`: the state to continue it anywhere,
zlib-compressed and sealed with AES-256-GCM under a key derived from the same secret (the client
sees its size, not its content: the frame nonce and the sandbox session stay private). The whole
id is at most `MAX_HANDLE_CHARS` long.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import zlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.proxy._errors import ApiError

__all__ = ["MAX_HANDLE_CHARS", "MAX_STATE_BYTES", "ContainerHandle", "HandleCodec"]

MAX_STATE_BYTES = 64 * 1024
"""Largest state (JSON, before compression) a detached execution may carry in its handle; an execution
whose state is larger (a program that printed a lot before pausing) stays paused on its replica."""
MAX_HANDLE_CHARS = 128 * 1024
"""Longest `container.id` accepted (a sealed state of `MAX_STATE_BYTES` fits even uncompressible)."""
_PREFIX = "container_"
_SHAPE = re.compile(r"^container_([A-Za-z0-9_-]{8,131072})\.([A-Za-z0-9_-]{43})$")
_FIELD = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerHandle:
    """What a `container.id` says."""

    replica: str
    execution: str
    backend: str
    """The sandbox backend running it (`docker`, `local-process`; a resumable backend can be resumed anywhere)."""
    state: bytes | None = None
    """A detached execution's state (plain here; sealed inside the id): any replica can resume it."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class HandleCodec:
    """Signs and verifies handles with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._aead = AESGCM(hmac.new(secret, b"ptc-proxy container state v1", hashlib.sha256).digest())

    def _seal(self, plain: bytes) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + self._aead.encrypt(nonce, zlib.compress(plain, 6), b"container-state"))

    def _open(self, sealed: str) -> bytes:
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        inflate = zlib.decompressobj()
        plain = inflate.decompress(self._aead.decrypt(data[:12], data[12:], b"container-state"), MAX_STATE_BYTES + 1)
        if len(plain) > MAX_STATE_BYTES or not inflate.eof:
            raise ValueError("state too large")
        return plain

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def encode(self, handle: ContainerHandle) -> str:
        """The `container.id` for `handle`."""
        fields: dict[str, str] = {"r": handle.replica, "e": handle.execution, "b": handle.backend}
        if handle.state is not None:
            fields["s"] = self._seal(handle.state)
        payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return f"{_PREFIX}{payload}.{self._sign(payload)}"

    def decode(self, value: object) -> ContainerHandle:
        """The handle inside a `container.id`; 400 when it is malformed or not signed by this deployment."""
        match = _SHAPE.match(value) if isinstance(value, str) and len(value) <= MAX_HANDLE_CHARS else None
        if match is None or not hmac.compare_digest(self._sign(match[1]), match[2]):
            raise ApiError(
                "invalid_request_error",
                "container: not a container id issued by this proxy deployment (malformed, or signed with "
                "another [proxy] container_secret)",
            )
        try:
            data = json.loads(base64.urlsafe_b64decode(match[1] + "=" * (-len(match[1]) % 4)))
            fields = (data["r"], data["e"], data["b"])
            sealed = data.get("s")
            state = self._open(sealed) if isinstance(sealed, str) else None
        except (ValueError, KeyError, TypeError, AttributeError, InvalidTag, binascii.Error, zlib.error) as e:
            raise ApiError("invalid_request_error", "container: unreadable container id") from e  # only a bug
        if not all(isinstance(f, str) and _FIELD.match(f) for f in fields):
            raise ApiError("invalid_request_error", "container: unreadable container id")
        return ContainerHandle(replica=fields[0], execution=fields[1], backend=fields[2], state=state)
