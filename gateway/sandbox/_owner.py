"""Who owns a sandbox container, and whether that owner is gone (its containers are orphans).

Every container carries labels naming the gateway that started it: its host name and pid, its pid
namespace, and, when the gateway itself runs in a container, that container's id. A gateway that
starts reaps the containers of owners it can prove dead:

- the owner ran in a container: that container no longer exists, is not running, or was
  (re)started after the sandbox container was created. Any replica sharing the engine can check
  this, so a sibling replica reaps what a killed one left.
- the owner ran as a process in *our* pid namespace on *our* host: its pid no longer exists.

Anything else is left alone: a pid only means something inside its own namespace, so a gateway in
a container (which may share the host's network and host name) never judges a process elsewhere.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

__all__ = [
    "LABEL_CONTAINER",
    "LABEL_HOST",
    "LABEL_OWNER",
    "LABEL_PID",
    "LABEL_PIDNS",
    "OwnerIdentity",
    "current_identity",
    "is_orphan",
]

LABEL_OWNER = "ptc-gateway.owner"
"""Every container we create carries it: the id of the backend instance that owns it."""
LABEL_PID = "ptc-gateway.pid"
LABEL_HOST = "ptc-gateway.host"
LABEL_PIDNS = "ptc-gateway.pidns"
"""The owner's pid namespace (`pid:[inode]`): its pid is only checked from the same namespace."""
LABEL_CONTAINER = "ptc-gateway.container"
"""The id of the container the owner runs in, when it runs in one."""

_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/|[/-]([0-9a-f]{64})(?:\.scope)?\b")


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerIdentity:
    """This gateway process, as its containers' labels name it."""

    host: str
    pid: int
    pidns: str | None
    container: str | None

    def labels(self, owner: str) -> dict[str, str]:
        """The ownership labels of a container this gateway starts."""
        labels = {LABEL_OWNER: owner, LABEL_PID: str(self.pid), LABEL_HOST: self.host}
        if self.pidns:
            labels[LABEL_PIDNS] = self.pidns
        if self.container:
            labels[LABEL_CONTAINER] = self.container
        return labels


@cache
def current_identity() -> OwnerIdentity:
    """This process's identity (read once: none of it changes while the process lives)."""
    try:
        pidns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = None
    return OwnerIdentity(host=socket.gethostname(), pid=os.getpid(), pidns=pidns, container=_own_container_id())


def _own_container_id() -> str | None:
    """The id of the Docker container this process runs in (from its mounts or cgroups), if any."""
    for path in ("/proc/self/mountinfo", "/proc/self/cgroup"):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            # mountinfo: /var/lib/docker/containers/<id>/hostname mounted on /etc/hostname (cgroup v1 and v2).
            if path.endswith("mountinfo") and " /etc/hostname " not in line:
                continue
            if match := _CONTAINER_ID.search(line):
                return match.group(1) or match.group(2)
    return None


PID_MAX_LIMIT = 4_194_304
"""Linux's ceiling on pids (`PID_MAX_LIMIT`, 2**22 on 64-bit): a larger one names no process."""

_PID = re.compile(r"[0-9]{1,20}")
"""A pid label as a gateway writes it (ASCII digits: `str.isdigit` also accepts "²", which `int` refuses)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists in our pid namespace (one we may not signal counts).

    The pid comes from a label anyone with engine access can write: 0 (which would signal our own
    process group), negatives (groups) and pids no kernel hands out name no live gateway.
    """
    if not 0 < pid <= PID_MAX_LIMIT:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _timestamp(value: object) -> datetime | None:
    """The engine's times: unix seconds (container lists) or RFC 3339 with nanoseconds (inspect)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError:
        return None


def is_orphan(
    labels: Mapping[str, str],
    created: object,
    me: OwnerIdentity,
    inspect_container: Callable[[str], Mapping[str, Any] | None],
) -> bool:
    """Whether a container with these labels (created at `created`, the engine's time) has a dead owner.

    `inspect_container(id)` returns the engine's view of a container, or None when there is none.
    Blocking (it may ask the engine); run it in a worker thread.
    """
    owner_container = labels.get(LABEL_CONTAINER)
    if owner_container:
        if owner_container == me.container:
            # Our own container: another pid namespace is a previous life of it (a restart makes a new one).
            pid = labels.get(LABEL_PID, "")
            if labels.get(LABEL_PIDNS) != me.pidns:
                return True
            return _PID.fullmatch(pid) is not None and not pid_alive(int(pid))
        details = inspect_container(owner_container)
        if details is None:
            return True
        state: Mapping[str, Any] = details.get("State") or {}
        if not state.get("Running"):
            return True
        started, made = _timestamp(state.get("StartedAt")), _timestamp(created)
        # (Re)started after the sandbox was created: the sandbox's owner was a previous life. The
        # container list gives whole seconds, hence the margin (a restart that close is caught by the
        # restarted owner itself, through its new pid namespace).
        return started is not None and made is not None and (started - made).total_seconds() > 1
    pid = labels.get(LABEL_PID, "")
    if labels.get(LABEL_HOST) != me.host or not _PID.fullmatch(pid):
        return False
    pidns = labels.get(LABEL_PIDNS)
    if pidns is None:
        # Labelled by a gateway that predates LABEL_PIDNS: trust the pid only from outside any container.
        return me.container is None and not pid_alive(int(pid))
    return pidns == me.pidns and not pid_alive(int(pid))
