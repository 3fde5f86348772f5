"""Channel option 2 of the AgentCore backend: the runner connects back to the gateway over TLS.

For code interpreters in PUBLIC or VPC network mode (docs/agentcore.md). The backend runs one TLS
listener with a certificate it generates at start (the key touches the disk only for the moment
`load_cert_chain` reads it, in a private temporary directory); the
certificate is shipped into each session as the only trust anchor, so the runner talks to this
gateway or to nobody. Each execution gets a fresh 256-bit token, written into its session with
`writeFiles` (the relay reads and deletes it), accepted for one connection only and only until the
session's start deadline. After the token line the connection carries the bridge protocol's bytes
exactly as a container's stdio does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketListener, SocketStream, TaskGroup
from anyio.streams.tls import TLSListener, TLSStream
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config import AgentCoreSettings
from gateway.errors import SandboxError, SandboxUnavailableError
from gateway.sandbox._agentcore_api import AgentCoreApi
from gateway.sandbox._base import BaseSandbox, SandboxInfo

__all__ = ["CONNECT_PREFIX", "ConnectBackListener", "ConnectBackSandbox", "Connection"]

logger = logging.getLogger(__name__)

CONNECT_PREFIX = b"PTC-CONNECT 1 "
_MAX_LINE_BYTES = 256
_LINE_TIMEOUT_S = 10.0
MAX_PENDING_CONNECTIONS = 64
"""Connections that have not presented a token yet; more are closed at once (a flood holds no more descriptors)."""
_ACCEPT_RETRY_S = 0.1
"""After a failed accept (out of file descriptors): wait this long, then accept again."""


@dataclass(eq=False)
class Connection:
    """One expected (then accepted) connection back from a session."""

    token: str
    deadline: float
    connected: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    """Set by the sandbox when it is closed: the listener's handler task then ends."""
    stream: TLSStream | None = None
    leftover: bytes = b""
    """Bytes that came after the token line in the same read (the runner's first output)."""


def _certificate(host: str) -> tuple[bytes, bytes]:
    """A fresh self-signed certificate for `host` (an IP address or a DNS name): (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ptc-gateway connect-back")])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: a private temporary directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="ptc-connect-") as directory:
        cert_file, key_file = f"{directory}/cert.pem", f"{directory}/key.pem"
        with open(cert_file, "wb") as file:
            file.write(cert_pem)
        with open(key_file, "wb") as file:
            file.write(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class ConnectBackListener:
    """The gateway's end of option 2: a TLS listener that hands each token's connection to its sandbox."""

    def __init__(self, settings: AgentCoreSettings) -> None:
        self.settings = settings
        self.address = settings.connect_back_address or settings.connect_back_listen_host
        self.port = 0
        self.ca_pem = ""
        self._expected: dict[str, Connection] = {}
        self._tls: TLSListener | None = None
        self._pending = 0
        self.refused = 0
        """Connections refused (a bad, reused or late token; past `MAX_PENDING_CONNECTIONS`): for tests, monitoring."""
        self.accept_failures = 0
        """Accepts that failed (the process was out of file descriptors): for tests and monitoring."""

    async def start(self, task_group: TaskGroup) -> None:
        """Generate the certificate, listen, and serve in `task_group`."""
        cert_pem, key_pem = await anyio.to_thread.run_sync(_certificate, self.address)
        context = await anyio.to_thread.run_sync(_server_context, cert_pem, key_pem)
        self.ca_pem = cert_pem.decode("ascii")
        try:
            listener = await anyio.create_tcp_listener(
                local_host=self.settings.connect_back_listen_host, local_port=self.settings.connect_back_port
            )
        except OSError as e:
            raise SandboxUnavailableError(f"cannot listen for AgentCore connect-back channels: {e}") from e
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        self._tls = TLSListener(listener, context, standard_compatible=False, handshake_timeout=_LINE_TIMEOUT_S)
        for socket_listener in listener.listeners:
            assert isinstance(socket_listener, SocketListener)  # what create_tcp_listener makes
            task_group.start_soon(self._serve, socket_listener, self._tls, task_group)

    async def _serve(self, listener: SocketListener, tls: TLSListener, task_group: TaskGroup) -> None:
        """Accept for ever (`TLSListener.serve` ends at a failed accept, and the backend's task group with it)."""
        while True:
            try:
                stream = await listener.accept()
            except OSError as e:  # EMFILE under a connection flood: the listener must outlive it
                self.accept_failures += 1
                logger.warning("the AgentCore connect-back listener could not accept a connection: %s", e)
                await anyio.sleep(_ACCEPT_RETRY_S)
                continue
            if self._pending >= MAX_PENDING_CONNECTIONS:
                self.refused += 1
                await stream.aclose()
                continue
            self._pending += 1
            task_group.start_soon(self._handshake, stream, tls)

    async def _handshake(self, stream: SocketStream, tls: TLSListener) -> None:
        try:
            with anyio.fail_after(_LINE_TIMEOUT_S):
                wrapped = await TLSStream.wrap(stream, ssl_context=tls.ssl_context, standard_compatible=False)
        except BaseException as exc:  # what TLSListener.serve does: close, log, re-raise only cancellation
            self._pending -= 1
            await tls.handle_handshake_error(exc, stream)
            return
        await self._handle(wrapped)

    async def aclose(self) -> None:
        """Stop listening (the owner has cancelled the serving task)."""
        if self._tls is not None:
            tls, self._tls = self._tls, None
            await tls.aclose()

    def expect(self, deadline_s: float) -> Connection:
        """A fresh single-use token, accepted until `deadline_s` from now."""
        connection = Connection(token=secrets.token_urlsafe(32), deadline=anyio.current_time() + deadline_s)
        self._expected[connection.token] = connection
        return connection

    def forget(self, connection: Connection) -> None:
        """The token is no longer accepted (the start failed or the sandbox was closed)."""
        self._expected.pop(connection.token, None)

    async def _handle(self, stream: TLSStream) -> None:
        buffer = b""
        try:
            with anyio.fail_after(_LINE_TIMEOUT_S):
                while b"\n" not in buffer and len(buffer) <= _MAX_LINE_BYTES:
                    buffer += await stream.receive(_MAX_LINE_BYTES)
        except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
            await stream.aclose()
            return
        finally:
            self._pending -= 1
        line, _, leftover = buffer.partition(b"\n")
        token = line.removeprefix(CONNECT_PREFIX).decode("ascii", "replace") if line.startswith(CONNECT_PREFIX) else ""
        connection = self._expected.pop(token, None)  # single use
        if connection is None or anyio.current_time() > connection.deadline:
            self.refused += 1
            logger.warning("refused an AgentCore connect-back connection with a bad, reused or late token")
            await stream.aclose()
            return
        connection.stream = stream
        connection.leftover = leftover
        connection.connected.set()
        await connection.done.wait()  # the sandbox owns the stream until it is closed


_DIAGNOSTICS_BYTES = 16 * 1024


class ConnectBackSandbox(BaseSandbox):
    """One session whose runner connected back: the byte pipe is the TLS connection itself."""

    def __init__(
        self,
        *,
        api: AgentCoreApi,
        session_id: str,
        directory: str,
        info: SandboxInfo,
        expires_at: float,
        connection: Connection,
        task_id: str | None,
        stop: Callable[[str], Awaitable[None]],
    ) -> None:
        assert connection.stream is not None
        self.info = info
        self.session_id = session_id
        self.directory = directory
        self.expires_at = expires_at
        self._api = api
        self._connection = connection
        self._stream = connection.stream
        self._leftover = connection.leftover
        self._task_id = task_id
        self._stop = stop
        self._ended = False
        self._exit: int | None = None
        self._diagnostics: str | None = None
        self._closed = False

    async def send(self, data: bytes) -> None:
        """Write to the runner over the connection."""
        try:
            await self._stream.send(data)
        except (anyio.ClosedResourceError, ssl.SSLError, OSError) as e:
            raise anyio.BrokenResourceError(f"the connect-back channel is closed ({e})") from e

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Next bytes from the runner; `anyio.EndOfStream` when the connection ends."""
        if self._leftover:
            chunk, self._leftover = self._leftover[:max_bytes], self._leftover[max_bytes:]
            return chunk
        try:
            return await self._stream.receive(max_bytes)
        except (anyio.BrokenResourceError, ssl.SSLError, OSError):
            self._ended = True
            raise anyio.EndOfStream from None
        except anyio.EndOfStream:
            self._ended = True
            raise

    async def diagnostics(self) -> str:
        """The runner's stderr, read from the session once the connection has ended (one API call)."""
        if self._diagnostics is None:
            if not self._ended or self._closed:
                return ""
            try:
                result = await self._api.invoke(
                    self.session_id,
                    "executeCommand",
                    {"command": f"tail -c {_DIAGNOSTICS_BYTES} {self.directory}/err.log"},
                )
                self._diagnostics = result.stdout[-_DIAGNOSTICS_BYTES:]
            except SandboxError as e:
                self._diagnostics = f"[AgentCore] could not read the runner's stderr: {e}"
        return self._diagnostics

    async def exit_status(self) -> int | None:
        """The relay task's exit code (the runner's), once the connection has ended."""
        if self._exit is not None or not self._ended or self._task_id is None or self._closed:
            return self._exit
        try:
            result = await self._api.invoke(self.session_id, "getTask", {"taskId": self._task_id})
        except SandboxError:
            return None
        if result.task_status in ("completed", "failed", "canceled"):
            self._exit = result.exit_code
        return self._exit

    async def aclose(self) -> None:
        """Close the connection and stop the session (shielded; idempotent)."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            self._connection.done.set()
            try:
                await self._stream.aclose()
            except (anyio.BrokenResourceError, ssl.SSLError, OSError):
                pass  # the peer is gone already
            await self._stop(self.session_id)
