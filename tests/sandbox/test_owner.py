"""Whose sandbox containers are orphans: pids only within one pid namespace, containers through the engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from gateway.sandbox import (
    LABEL_CONTAINER,
    LABEL_HOST,
    LABEL_OWNER,
    LABEL_PID,
    LABEL_PIDNS,
    OwnerIdentity,
    current_identity,
    is_orphan,
)

ON_HOST = OwnerIdentity(host="vm", pid=100, pidns="pid:[1]", container=None)
IN_CONTAINER = OwnerIdentity(host="vm", pid=1, pidns="pid:[2]", container="c" * 64)
SIBLING = "d" * 64


def _dead_pid() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _engine(containers: Mapping[str, Mapping[str, Any]]) -> Any:
    return lambda container_id: containers.get(container_id)


def test_identity_labels_name_host_pid_and_namespace() -> None:
    me = current_identity()
    labels = me.labels("owner-1")
    assert labels[LABEL_OWNER] == "owner-1" and labels[LABEL_PID].isdigit() and labels[LABEL_HOST]
    assert labels[LABEL_PIDNS].startswith("pid:[")
    assert (LABEL_CONTAINER in labels) == (me.container is not None)


def test_a_dead_pid_counts_only_in_the_same_pid_namespace_and_host() -> None:
    dead = _dead_pid()
    labels = {LABEL_HOST: "vm", LABEL_PID: dead, LABEL_PIDNS: "pid:[1]"}
    nobody = _engine({})
    assert is_orphan(labels, 0, ON_HOST, nobody)
    # A gateway in a container sharing the host's network (same host name) cannot see host pids.
    assert not is_orphan(labels, 0, IN_CONTAINER, nobody)
    assert not is_orphan({**labels, LABEL_HOST: "other"}, 0, ON_HOST, nobody)
    # Labels written before the namespace label existed: judged only from outside any container.
    legacy = {LABEL_HOST: "vm", LABEL_PID: dead}
    assert is_orphan(legacy, 0, ON_HOST, nobody)
    assert not is_orphan(legacy, 0, IN_CONTAINER, nobody)


def test_a_pid_no_kernel_hands_out_is_dead_and_never_crashes_the_reaper() -> None:
    # 0 would signal our own process group and a huge number overflowed os.kill: both once made
    # a forged label either keep a container forever or stop the gateway from starting.
    for pid in ("0", "4194305", "9" * 19):
        labels = {LABEL_HOST: "vm", LABEL_PID: pid, LABEL_PIDNS: "pid:[1]"}
        assert is_orphan(labels, 0, ON_HOST, _engine({})), pid
    # Not a pid a gateway writes (a Unicode digit passes str.isdigit and fails int): not ours, left alone.
    assert not is_orphan({LABEL_HOST: "vm", LABEL_PID: "\u00b2", LABEL_PIDNS: "pid:[1]"}, 0, ON_HOST, _engine({}))
    mine = {LABEL_HOST: "vm", LABEL_PID: "\u00b2", LABEL_PIDNS: IN_CONTAINER.pidns, LABEL_CONTAINER: "c" * 64}
    assert not is_orphan(mine, 0, IN_CONTAINER, _engine({}))


def test_a_live_pid_is_never_an_orphan() -> None:
    me = current_identity()
    assert not is_orphan(me.labels("x"), 0, me, _engine({}))


def test_an_owner_container_that_is_gone_stopped_or_restarted() -> None:
    labels = {LABEL_HOST: "vm", LABEL_PID: "1", LABEL_PIDNS: "pid:[9]", LABEL_CONTAINER: SIBLING}
    created = 1_800_000_000  # the container list's whole seconds
    running = {"State": {"Running": True, "StartedAt": "2027-01-15T08:00:00.123456789Z"}}  # before `created`
    assert not is_orphan(labels, created + 3600 * 24 * 30, IN_CONTAINER, _engine({SIBLING: running}))
    assert is_orphan(labels, created, IN_CONTAINER, _engine({}))
    assert is_orphan(labels, created, IN_CONTAINER, _engine({SIBLING: {"State": {"Running": False}}}))
    restarted = {"State": {"Running": True, "StartedAt": "2030-01-01T00:00:00.5Z"}}
    assert is_orphan(labels, created, IN_CONTAINER, _engine({SIBLING: restarted}))
    # The same check from a gateway process on the host.
    assert is_orphan(labels, created, ON_HOST, _engine({}))


def test_our_own_container_in_a_previous_life() -> None:
    mine = {LABEL_HOST: "vm", LABEL_PID: "1", LABEL_CONTAINER: IN_CONTAINER.container or ""}
    assert is_orphan({**mine, LABEL_PIDNS: "pid:[old]"}, 0, IN_CONTAINER, _engine({}))
