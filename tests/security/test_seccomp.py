"""Issue 14, item 6: the gateway's own seccomp profile is applied, denies what current upstream
profiles deny (and what sandboxed Python never needs), and ordinary Python still works.

One execution probes everything (one container for the whole file: the suite stays fast).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import SandboxSettings
from gateway.errors import ConfigError
from gateway.sandbox._seccomp import builtin_profile, seccomp_security_opt
from tests.security._support import docker_backend, last_json, run_checked

pytestmark = pytest.mark.anyio

PROBE = r"""
import asyncio, concurrent.futures, ctypes, errno, hashlib, json, multiprocessing, os, platform, select
import signal, socket, sqlite3, subprocess, tempfile, threading, zlib

libc = ctypes.CDLL(None, use_errno=True)
X86 = platform.machine() == "x86_64"
NR = {  # x86_64, aarch64
    "io_uring_setup": (425, 425), "bpf": (321, 280), "userfaultfd": (323, 282), "perf_event_open": (298, 241),
    "keyctl": (250, 219), "add_key": (248, 217), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "mount": (165, 40), "unshare": (272, 97), "kexec_load": (246, 104), "mq_open": (240, 180),
    "personality": (135, 92), "pidfd_getfd": (438, 438), "memfd_secret": (447, 447), "setns": (308, 268),
    "io_setup": (206, 0), "mlock": (149, 228), "open_by_handle_at": (304, 265), "fanotify_init": (300, 262),
}
buf = ctypes.create_string_buffer(256)
ARGS = {
    "io_uring_setup": (1, buf), "unshare": (0x10000000,), "personality": (0x0040000,), "mlock": (buf, 256),
    "mq_open": (b"/q", 0o100 | 2, 0o600, None), "ptrace": (0, 0, 0, 0), "mount": (b"none", b"/tmp", b"tmpfs", 0, None),
}
def syscall(name):
    nr = NR[name][0 if X86 else 1]
    result = libc.syscall(nr, *ARGS.get(name, (0, 0, 0, 0)))
    return "allowed" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
denied = {name: syscall(name) for name in NR if X86 or NR[name][1]}
def sock(family, kind=socket.SOCK_STREAM, proto=0):
    try:
        socket.socket(family, kind, proto).close()
        return "allowed"
    except OSError as e:
        return errno.errorcode.get(e.errno, "?")
denied["AF_VSOCK"] = sock(40)
denied["AF_NETLINK"] = sock(16, socket.SOCK_RAW)
denied["AF_PACKET"] = sock(17, socket.SOCK_RAW)
denied["AF_INET"] = sock(socket.AF_INET)
denied["AF_INET6"] = sock(socket.AF_INET6)
denied["AF_ALG"] = sock(38, socket.SOCK_SEQPACKET)
a, b = socket.socketpair()
try:
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 24)
    denied["SO_SNDBUF"] = "allowed"
except OSError as e:
    denied["SO_SNDBUF"] = errno.errorcode[e.errno]
if hasattr(os, "unshare"):
    try:
        os.unshare(os.CLONE_NEWUSER)
        denied["os.unshare"] = "allowed"
    except OSError as e:
        denied["os.unshare"] = errno.errorcode[e.errno]

works = {}
def check(name, fn):
    try:
        works[name] = fn()
    except Exception as e:
        works[name] = f"FAILED {type(e).__name__}: {e}"
async def aio():
    proc = await asyncio.create_subprocess_exec("python3", "-c", "print(6 * 7)", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    r, w = await asyncio.open_connection(sock=socket.socketpair()[0])
    values = await asyncio.gather(*(asyncio.sleep(0.01, result=i) for i in range(50)))
    await asyncio.to_thread(sum, values)
    w.close()
    return out.decode().strip() == "42" and sum(values) == 1225
check("asyncio", lambda: asyncio.run(aio()))
check("threads", lambda: sum(concurrent.futures.ThreadPoolExecutor(8).map(abs, range(-100, 0))) == 5050)
check("subprocess", lambda: subprocess.run(["sh", "-c", "echo ok"], capture_output=True, text=True).stdout == "ok\n")
def pool():
    with multiprocessing.Pool(2) as p:
        return p.map(abs, [-1, -2]) == [1, 2]
check("multiprocessing", pool)
def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
check("fork", fork)
check("json", lambda: json.loads(json.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]})
check("sqlite3", lambda: sqlite3.connect(":memory:").execute("select 1 + 1").fetchone() == (2,))
def files():
    with tempfile.NamedTemporaryFile("w+", dir="/tmp") as f:
        f.write("x" * 10000); f.flush(); os.fsync(f.fileno()); f.seek(0)
        return len(f.read()) == 10000
check("files", files)
digest = hashlib.sha256(b"x").digest()
check("hash+zlib", lambda: zlib.decompress(zlib.compress(digest)) == digest)
check("select", lambda: select.select([b], [a], [], 0)[1] == [a])
check("signal", lambda: signal.signal(signal.SIGALRM, lambda *_: None) is not None and signal.alarm(0) == 0)
check("mmap", lambda: len(__import__("mmap").mmap(-1, 1 << 20)) == 1 << 20)
print(json.dumps({"denied": denied, "works": works}))
"""

DENIED_ERRNO = "EPERM"


@pytest.mark.docker
async def test_profile_denies_and_python_works() -> None:
    async with docker_backend(pids_limit=64) as backend:
        found: dict[str, Any] = last_json(await run_checked(backend, PROBE))
    assert {name: outcome for name, outcome in found["works"].items() if outcome is not True} == {}
    denied = found["denied"]
    assert {name: outcome for name, outcome in denied.items() if outcome != DENIED_ERRNO} == {}, denied
    assert {"io_uring_setup", "AF_VSOCK", "bpf", "userfaultfd", "AF_INET", "SO_SNDBUF"} <= set(denied)


@pytest.mark.docker
async def test_inet_sockets_can_be_allowed() -> None:
    code = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\nprint('{\"bound\": true}')"
    async with docker_backend(inet_sockets=True) as backend:
        assert last_json(await run_checked(backend, code)) == {"bound": True}


def test_profile_options() -> None:
    # With a network, TCP/UDP are allowed by default; `engine` and an explicit seccomp= keep ours off.
    inet_rules = [rule for rule in builtin_profile(inet_sockets=True)["syscalls"] if rule["names"] == ["socket"]]
    assert {rule["args"][0]["value"] for rule in inet_rules} == {2, 10}
    assert all(rule["names"] != ["socket"] for rule in builtin_profile(inet_sockets=False)["syscalls"])
    assert '"value":2,' in seccomp_security_opt(SandboxSettings(network_mode="bridge"))[-1]
    assert seccomp_security_opt(SandboxSettings(seccomp="engine")) == ["no-new-privileges"]
    own = SandboxSettings(security_opt=["seccomp=/etc/mine.json"])
    assert seccomp_security_opt(own) == ["seccomp=/etc/mine.json"]
    with pytest.raises(ConfigError, match=r"\[sandbox\] seccomp: cannot read the profile"):
        seccomp_security_opt(SandboxSettings(seccomp="/nonexistent/profile.json"))
