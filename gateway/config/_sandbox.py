"""`[sandbox]` and `[limits]`: how model code is run, and the caps on one execution."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AgentCoreSettings", "ExecutionLimits", "SandboxSettings"]


class AgentCoreSettings(BaseModel):
    """`[sandbox.agentcore]`: the Amazon Bedrock AgentCore Code Interpreter backend (docs/agentcore.md)."""

    model_config = ConfigDict(extra="forbid")

    code_interpreter_id: str = Field(default="aws.codeinterpreter.v1", min_length=1)
    """The code interpreter to start sessions of (the AWS-managed one, or your own in SANDBOX network mode)."""
    region: str | None = None
    """AWS region; default: the profile's or `AWS_REGION` / `AWS_DEFAULT_REGION`."""
    profile: str | None = None
    """Named AWS profile; default: the standard credential chain."""
    session_timeout_s: int = Field(default=900, ge=60, le=28800)
    """`sessionTimeoutSeconds` of every session: a lifetime, not an idle timeout. Sessions are stopped
    explicitly after each execution; this is the safety net if the gateway dies. Pooled sessions whose
    remaining lifetime is shorter than the execution timeout are replaced, never handed out."""
    channel: Literal["session-api", "connect-back"] = "session-api"
    """How frames travel: `session-api` (option 1) long-polls through the session's own API and works
    in the default SANDBOX network mode. `connect-back` (option 2) has the runner connect back to the
    gateway over TLS with a per-execution token: the code interpreter needs PUBLIC or VPC network mode
    and must reach `connect_back_address`."""
    connect_back_listen_host: str = "127.0.0.1"
    """connect-back: the local address the gateway's TLS listener binds."""
    connect_back_port: int = Field(default=0, ge=0, le=65535)
    """connect-back: the listener's port (0: any free port)."""
    connect_back_address: str | None = None
    """connect-back: the host name or IP address sessions dial (default: `connect_back_listen_host`);
    the gateway's certificate is made for it."""
    poll_wait_s: float = Field(default=20.0, gt=0, le=300)
    """Longest time one long poll waits in the session for the runner's next frames."""
    inline_push_bytes: int = Field(default=48 * 1024, ge=1024, le=64 * 1024)
    """Frames up to this size travel inside the relay command; larger ones go in with `writeFiles` first."""
    max_poll_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    """Most runner output one poll brings back."""
    max_retries: int = Field(default=5, ge=0, le=20)
    """Retries of a throttled or transiently failed API call (exponential backoff with jitter)."""
    retry_base_s: float = Field(default=0.2, gt=0)
    python: str = "python3"
    """The interpreter command inside the session."""
    max_parallel_calls: int = Field(default=32, ge=4, le=512)
    """boto3 calls in flight at once for this backend (worker threads and HTTP connections)."""


class SandboxSettings(BaseModel):
    """Where and how the model's code runs. Hardened defaults; see docs/security.md."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["docker", "local-process", "agentcore"] = "docker"
    """`local-process` runs the runner as a plain subprocess: for tests only, never a security boundary.
    `agentcore` runs it in Amazon Bedrock AgentCore Code Interpreter sessions (`[sandbox.agentcore]`)."""
    agentcore: AgentCoreSettings = Field(default_factory=AgentCoreSettings)
    image: str = "ptc-sandbox:latest"
    pool_size: int = Field(default=2, ge=0, le=64)
    """Pre-started idle containers kept ready so the common path starts none."""
    pool_max_size: int = Field(default=8, ge=0, le=64)
    """The pool grows with demand up to this many: each execution that finds it empty adds one;
    after `pool_shrink_after_s` without that it steps back towards `pool_size`."""
    pool_shrink_after_s: float = Field(default=30.0, gt=0)
    pool_refill_delay_s: float = Field(default=0.05, ge=0)
    """After a pooled container is taken, wait this long before starting its replacement, so the
    replacement's start does not compete for CPU with the start of the execution that took it."""

    # Docker engine and image.
    docker_host: str | None = None
    """Engine address (`unix:///var/run/docker.sock`, `tcp://host:2375`); default: `DOCKER_HOST` or the local socket."""
    runtime_injection: Literal["auto", "baked", "stdin"] = "auto"
    """`baked`: run the bridge copy inside our image. `stdin`: send the bridge sources over stdin at start
    (any image with Python >= 3.10). `auto`: baked when the image's bridge digest label matches ours."""
    python: str = "python3"
    """The interpreter command inside the image."""
    start_timeout_s: float = Field(default=30.0, gt=0)
    """How long a container may take to start and say hello."""
    max_diagnostics_bytes: int = Field(default=16 * 1024, ge=1024)
    """Bytes of the container's stderr (outside the protocol) kept for error messages."""

    # Hardening (see docs/security.md before changing any of these).
    network_mode: str = "none"
    read_only: bool = True
    """Read-only root filesystem; only the tmpfs mounts below are writable."""
    user: str = "65532:65532"
    """Non-root `uid:gid` the code runs as when `uid_range` is None."""
    workdir: str = "/work"
    tmp_size_mb: int = Field(default=64, ge=1)
    """Size cap of the `/tmp` tmpfs (counts against `memory_mb`)."""
    workdir_size_mb: int = Field(default=64, ge=1)
    """Size cap of the working-directory tmpfs."""
    cap_drop: list[str] = Field(default_factory=lambda: ["ALL"])
    cap_add: list[str] = Field(default_factory=list[str])
    security_opt: list[str] = Field(default_factory=lambda: ["no-new-privileges"])
    seccomp: str = "builtin"
    """`builtin`: the gateway's own profile (`gateway/sandbox/seccomp.json`); `engine`: the engine's default
    profile; anything else: the path of a profile JSON file. A `seccomp=` entry in `security_opt` wins."""
    inet_sockets: bool | None = None
    """Allow AF_INET/AF_INET6 sockets under the builtin profile. None (default): only when `network_mode` is not
    `none`. With no network they reach only the container's loopback, and their buffers escape the memory
    limit on cgroup v1 hosts (see docs/security.md)."""
    sysctls: dict[str, str] = Field(
        default_factory=lambda: {
            "net.ipv4.tcp_rmem": "4096 65536 262144",
            "net.ipv4.tcp_wmem": "4096 16384 262144",
        }
    )
    """Per-network-namespace sysctls of the container (the defaults cap TCP buffer autotuning)."""
    uid_range: tuple[int, int] | None = (200_000, 299_999)
    """Each sandbox runs as its own uid (and gid) from this inclusive range, so per-uid kernel quotas (POSIX
    message queues, inotify instances, pipe buffers) are not shared between executions. None (`[]` in
    TOML): every sandbox runs as `user`. A uid that another gateway's live sandbox on the same engine has is skipped."""
    pids_limit: int = Field(default=128, ge=8)
    memory_mb: int = Field(default=512, ge=32)
    """Memory cap; swap is capped at the same value (`memswap_limit == mem_limit`: no swap)."""
    cpus: float = Field(default=1.0, gt=0)
    nofile: int = Field(default=128, ge=16)
    """Open file descriptors (soft = hard)."""
    fsize_mb: int = Field(default=64, ge=1)
    """Largest file the code may write."""
    init: bool = True
    """Run docker-init as PID 1 so zombies are reaped and signals delivered."""
    runtime: str | None = None
    """OCI runtime, e.g. `runsc` (gVisor) for a stronger boundary; default: the engine's (runc)."""
    labels: dict[str, str] = Field(default_factory=dict[str, str])
    """Extra labels on every container (ownership labels `ptc-gateway.*` are always added)."""

    @field_validator("uid_range", mode="before")
    @classmethod
    def _empty_uid_range_is_off(cls, value: object) -> object:
        return None if value == [] or value == () else value  # TOML has no null: `uid_range = []`

    @field_validator("uid_range")
    @classmethod
    def _check_uid_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1000 <= value[0] <= value[1] < 2**31:
            raise ValueError("uid_range must be [first, last] with 1000 <= first <= last < 2**31 (never root)")
        return value


class ExecutionLimits(BaseModel):
    """Caps on one execution. Every one produces a clear error naming the limit."""

    model_config = ConfigDict(extra="forbid")

    execution_timeout_s: float = Field(default=30.0, gt=0)
    tool_call_timeout_s: float | None = Field(default=None, gt=0)
    """Optional cap on every tool call made from the code. Unset: each server's own `timeout` applies.
    Either way a call still running shortly before `execution_timeout_s` fails with `ToolError`."""
    max_approval_wait_s: float = Field(default=300.0, ge=0)
    """Time an execution may spend waiting on approval questions (its sandbox frozen, its clocks stopped)
    on top of `execution_timeout_s`: a hard cap on the whole execution."""
    max_tool_calls: int = Field(default=1000, ge=0)
    max_concurrent_calls: int = Field(default=100, ge=1)
    """Tool calls in flight at once; more wait their turn. 100 lets a typical `asyncio.gather` fan out in one wave."""
    max_output_bytes: int = Field(default=64 * 1024, ge=1024)
    """Per stream (stdout, stderr) kept and returned; the rest is counted and dropped."""
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    max_result_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest tool result injected back into the sandbox."""
