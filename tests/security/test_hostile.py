"""Hostile programs against the real gateway: a real stdio MCP server, the real Docker sandbox.

Each program is an attack with its expected outcome: a clear error of the right kind, or (when the
attempt happens inside the sandbox) a JSON line saying what the code observed, checked here. A
category's programs run concurrently on one gateway; afterwards the gateway must still run a
healthy program and no container may be left. Issue 14's own findings have their own modules
(`test_socket_memory`, `test_uids`, `test_seccomp`, `test_approval_freeze`, `test_runsc`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import pytest

from gateway.config import ExecutionLimits
from gateway.executor import ExecutionResult, Executor
from tests.sandbox._docker import count_owned_containers
from tests.security.conftest import SECRET, Hostile

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

Category = Literal["resources", "escape", "disclosure", "protocol", "tools", "signals"]
HEALTHY = "print(len(await expenses.list_departments()))"
PARALLEL = 3
"""Programs of a category run at once (the machine is small and shared)."""

# Find the runner's private protocol channel from inside the sandbox: what a determined attacker (who
# can read the runner's memory) would do. Everything it writes carries the execution's real nonce.
FIND_CHANNEL = """
import gc, time
channel = next(o for o in gc.get_objects() if type(o).__name__ == "Channel" and hasattr(o, "write_fd"))
"""
LIBC = "import ctypes, errno, json, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
FORGED_DONE = '{"type":"done","ok":true,"tool_calls":0,"stdout_dropped":0,"stderr_dropped":0}'


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """An expected outcome: what it is in words, and a check returning the problem (None when met)."""

    says: str
    check: Callable[[ExecutionResult], str | None]


def fails(kinds: str | tuple[str, ...], *needles: str) -> Expect:
    """The execution failed with one of `kinds` and a message containing every needle."""
    wanted = (kinds,) if isinstance(kinds, str) else kinds

    def check(result: ExecutionResult) -> str | None:
        if result.error is None:
            return f"succeeded (stdout {result.stdout[:200]!r})"
        text = f"{result.error.type}: {result.error.message}"
        if result.error.kind not in wanted or not all(needle in text for needle in needles):
            return f"{result.error.kind}: {text[:400]}"
        return None

    return Expect(says=f"fails ({'/'.join(wanted)}) with {needles}", check=check)


def observes(says: str, predicate: Callable[[dict[str, Any]], bool]) -> Expect:
    """The code finished and its last stdout line, a JSON object, satisfies `predicate`."""

    def check(result: ExecutionResult) -> str | None:
        if result.error is not None:
            return f"{result.error.kind}: {result.error.type}: {result.error.message[:400]}"
        try:
            found = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return f"no JSON line in stdout {result.stdout[-300:]!r}"
        return None if predicate(found) else f"observed {found}"

    return Expect(says=says, check=check)


def finishes(says: str) -> Expect:
    """The execution ended without an error."""
    return Expect(says=says, check=lambda result: None if result.ok else str(result.error))


def either(*options: Expect) -> Expect:
    """One of several acceptable outcomes."""

    def check(result: ExecutionResult) -> str | None:
        problems = [option.check(result) for option in options]
        return None if any(problem is None for problem in problems) else " | ".join(p or "" for p in problems)

    return Expect(says=" or ".join(option.says for option in options), check=check)


def denied(errors: tuple[str, ...] = ("EPERM", "EACCES", "ENOENT", "EROFS")) -> Expect:
    """The program prints {"result": <errno name or "allowed">}; it must be one of `errors`."""
    return observes(f"refused with {'/'.join(errors)}", lambda found: found.get("result") in errors)


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    name: str
    category: Category
    code: str
    expect: Expect
    limits: Mapping[str, Any] = field(default_factory=dict[str, Any])


def _syscall_attempt(call: str) -> str:
    """Code that runs `call` (a libc call returning < 0 on failure) and prints the errno name or "allowed"."""
    outcome = "'allowed' if r >= 0 else errno.errorcode[ctypes.get_errno()]"
    return LIBC + f"r = {call}\nprint(json.dumps({{'result': {outcome}}}))\n"


def _os_attempt(statement: str) -> str:
    """Code that runs a Python statement and prints the OSError's errno name, or "allowed"."""
    return (
        "import errno, json, os, socket\n"
        f"try:\n    {statement}\n    result = 'allowed'\n"
        "except OSError as e:\n    result = errno.errorcode.get(e.errno, str(e.errno))\n"
        "print(json.dumps({'result': result}))\n"
    )


PROGRAMS: list[Program] = [
    # --- resource exhaustion (CPU, processes, memory, descriptors, disk, kernel memory) ---
    Program(
        name="infinite loop",
        category="resources",
        code="print('spinning')\nwhile True:\n    pass\n",
        expect=fails("timeout", "timed out after 2 s"),
        limits={"execution_timeout_s": 2.0},
    ),
    Program(
        name="fork bomb",
        category="resources",
        code="import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        expect=fails(("timeout", "crash")),
        limits={"execution_timeout_s": 3.0},
    ),
    Program(
        name="thread bomb",
        category="resources",
        code=(
            "import json, threading, time\nn = 0\ntry:\n    while True:\n"
            "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n        n += 1\n"
            "except RuntimeError:\n    pass\nprint(json.dumps({'threads': n}))\n"
        ),
        expect=observes("stops below pids_limit (64)", lambda found: 0 < found["threads"] < 64),
    ),
    Program(
        name="memory bomb",
        category="resources",
        code="hoard = []\nwhile True:\n    hoard.append(bytearray(16 * 1024 * 1024))\n",
        expect=either(fails("crash", "memory"), fails("code", "MemoryError")),
        limits={"execution_timeout_s": 20.0},
    ),
    Program(
        name="100 MB of output",
        category="resources",
        code="chunk = 'x' * (1024 * 1024)\nfor _ in range(100):\n    print(chunk)\nprint('end')\n",
        expect=Expect(
            says="truncated to max_output_bytes",
            check=lambda r: (
                None
                if r.stdout_truncated and len(r.stdout) < 2 * 64 * 1024 and "output truncated" in r.stdout
                else f"stdout {len(r.stdout)} chars, truncated={r.stdout_truncated}"
            ),
        ),
        limits={"execution_timeout_s": 30.0},
    ),
    Program(
        name="descriptor exhaustion",
        category="resources",
        code=(
            "import json, os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
            "except OSError as e:\n    print(json.dumps({'fds': len(fds), 'error': e.strerror}))\n"
        ),
        expect=observes("stops at nofile (128)", lambda found: found["fds"] < 128 and "Too many" in found["error"]),
    ),
    Program(
        name="fill /tmp",
        category="resources",
        code=(
            "import json\nwritten = 0\ntry:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n"
            "            f.write(b'x' * (1 << 20)); f.flush(); written += 1\n"
            "except OSError as e:\n    print(json.dumps({'mb': written, 'error': e.strerror}))\n"
        ),
        expect=observes("stops at the tmpfs or fsize cap", lambda found: found["mb"] <= 64),
    ),
    Program(
        name="file beyond fsize",
        category="resources",
        code=_os_attempt("open('/work/big', 'wb').write(b'x' * (80 << 20))"),
        expect=denied(("EFBIG", "ENOSPC")),
    ),
    Program(
        name="fill /dev/shm",
        category="resources",
        code=(
            "import json\nwritten = 0\ntry:\n    with open('/dev/shm/fill', 'wb') as f:\n        while True:\n"
            "            f.write(b'x' * (1 << 20)); f.flush(); written += 1\n"
            "except OSError as e:\n    print(json.dumps({'mb': written, 'error': e.strerror}))\n"
        ),
        expect=either(
            observes("stops at the shm size or fsize cap", lambda found: found["mb"] <= 64),
            fails("crash", "memory"),
        ),
    ),
    Program(
        name="loopback TCP buffers (kernel memory)",
        category="resources",
        code=_os_attempt("socket.socket().bind(('127.0.0.1', 0))"),
        expect=denied(("EPERM",)),
    ),
    Program(
        name="unix socket buffers (kernel memory)",
        category="resources",
        code="""
import json, socket
queued, pairs = 0, []
try:
    while True:
        a, b = socket.socketpair()
        pairs.append((a, b))
        try:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 26)
        except OSError:
            pass
        a.setblocking(False)
        try:
            while True:
                queued += a.send(b'x' * 65536)
        except BlockingIOError:
            pass
except OSError:
    pass
print(json.dumps({'pairs': len(pairs), 'queued': queued}))
""",
        expect=observes("bounded by nofile x the default buffer", lambda found: found["queued"] < 64 << 20),
    ),
    Program(
        name="unix socket buffers in many processes (kernel memory)",
        category="resources",
        code="""
import json, os, socket, time
r, w = os.pipe()
for _ in range(20):
    if os.fork() == 0:
        queued, pairs = 0, []
        try:
            for _ in range(60):
                a, b = socket.socketpair()
                pairs.append((a, b))
                a.setblocking(False)
                try:
                    while True:
                        queued += a.send(b'x' * 65536)
                except BlockingIOError:
                    pass
        except OSError:
            pass
        os.write(w, b'%d ' % queued)
        time.sleep(30)
time.sleep(3)
print(json.dumps({'queued': sum(int(n) for n in os.read(r, 65536).split())}))
""",
        # Charged to the memory cgroup (128 MiB here): the container is OOM-killed, or what fits is bounded.
        expect=either(fails("crash"), observes("within memory_mb", lambda found: found["queued"] < 128 << 20)),
        limits={"execution_timeout_s": 20.0},
    ),
    Program(
        name="pipe buffers (kernel memory)",
        category="resources",
        code="""
import fcntl, json, os
queued, pipes = 0, []
try:
    while True:
        r, w = os.pipe()
        pipes.append((r, w))
        try:
            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        os.set_blocking(w, False)
        try:
            while True:
                queued += os.write(w, b'x' * 65536)
        except BlockingIOError:
            pass
except OSError:
    pass
print(json.dumps({'pipes': len(pipes), 'queued': queued}))
""",
        # Pipe pages are charged to the container's memory cgroup (and to the sandbox's own uid).
        expect=either(observes("bounded", lambda found: found["queued"] < 128 << 20), fails("crash", "memory")),
    ),
    Program(
        name="message queue quota",
        category="resources",
        code=(
            "import json, os\nheld = []\ntry:\n    while len(held) < 1000:\n"
            "        held.append(os.open(f'/dev/mqueue/q{len(held)}', os.O_CREAT | os.O_RDWR, 0o600))\n"
            "except OSError as e:\n    print(json.dumps({'queues': len(held), 'error': e.strerror}))\n"
        ),
        expect=observes("its own uid's quota runs out", lambda found: found["queues"] < 1000),
    ),
    Program(
        name="inotify instances",
        category="resources",
        code=(
            "import ctypes, json\nlibc = ctypes.CDLL(None, use_errno=True)\nn = 0\nwhile libc.inotify_init() >= 0:\n"
            "    n += 1\nprint(json.dumps({'instances': n}))\n"
        ),
        expect=observes("bounded by nofile / the per-uid limit", lambda found: found["instances"] <= 128),
    ),
    Program(
        name="sleep forever",
        category="resources",
        code="import time\ntime.sleep(1000)\n",
        expect=fails("timeout"),
        limits={"execution_timeout_s": 2.0},
    ),
    Program(
        name="event loop spin",
        category="resources",
        code="import asyncio\nwhile True:\n    await asyncio.sleep(0)\n",
        expect=fails("timeout"),
        limits={"execution_timeout_s": 2.0},
    ),
    Program(
        name="zombie army",
        category="resources",
        code=(
            "import json, os\nn = 0\ntry:\n    while n < 10_000:\n        if os.fork() == 0:\n            os._exit(0)\n"
            "        n += 1\nexcept OSError:\n    pass\nprint(json.dumps({'children': n}))\n"
        ),
        # Unreaped children stay zombies, and zombies count against pids_limit (64 here).
        expect=observes("stops below pids_limit", lambda found: 0 < found["children"] < 64),
    ),
    Program(
        name="deep recursion",
        category="resources",
        code="def f(n):\n    return f(n + 1)\nf(0)\n",
        expect=fails("code", "RecursionError"),
    ),
    # --- escape and egress ---
    Program(
        name="connect to the internet",
        category="escape",
        code="import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n",
        expect=fails("code", "PermissionError"),
    ),
    Program(
        name="DNS lookup",
        category="escape",
        code="import socket\nsocket.getaddrinfo('example.com', 443)\n",
        expect=fails("code", "gaierror"),
    ),
    Program(
        name="write to the root filesystem",
        category="escape",
        code="open('/pwned', 'w').write('x')\n",
        expect=fails("code", "Read-only file system"),
    ),
    Program(name="become root", category="escape", code=_os_attempt("os.setuid(0)"), expect=denied()),
    Program(
        name="mount a filesystem",
        category="escape",
        code=_syscall_attempt("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"),
        expect=denied(),
    ),
    Program(
        name="new user namespace",
        category="escape",
        code=_syscall_attempt("libc.unshare(0x10000000)"),
        expect=denied(),
    ),
    Program(
        name="ptrace pid 1",
        category="escape",
        code=_syscall_attempt("libc.ptrace(16, 1, None, None)"),
        expect=denied(("EPERM", "ESRCH")),
    ),
    Program(name="read /dev/mem", category="escape", code=_os_attempt("open('/dev/mem', 'rb')"), expect=denied()),
    Program(name="vsock to the host", category="escape", code=_os_attempt("socket.socket(40, 1)"), expect=denied()),
    Program(
        name="io_uring",
        category="escape",
        code=_syscall_attempt("libc.syscall(425, 1, ctypes.create_string_buffer(120))"),
        expect=denied(),
    ),
    Program(
        name="the engine's socket",
        category="escape",
        code=_os_attempt("socket.socket(socket.AF_UNIX).connect('/var/run/docker.sock')"),
        expect=denied(("ENOENT", "EACCES", "EPERM")),
    ),
    Program(
        name="setuid bit on a copy of python",
        category="escape",
        code="""
import json, os, shutil, subprocess, sys
shutil.copy(os.path.realpath(sys.executable), '/work/py')
os.chmod('/work/py', 0o4755)
try:
    euid = subprocess.run(['/work/py', '-c', 'import os; print(os.geteuid())'], capture_output=True, text=True).stdout
except OSError as e:
    euid = e.strerror
print(json.dumps({'euid': euid.strip(), 'uid': os.getuid()}))
""",
        expect=observes(
            "no change of uid (nosuid, no-new-privileges) or no exec at all",
            lambda found: found["euid"] in ("", str(found["uid"]), "Permission denied"),
        ),
    ),
    # --- information disclosure ---
    Program(
        name="hunt the upstream's secret",
        category="disclosure",
        code=f"""
import json, os
secret = {SECRET!r}
hits = [k for k, v in os.environ.items() if secret in v or secret in k]
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    for name in ('environ', 'cmdline'):
        try:
            with open(f'/proc/{{pid}}/{{name}}', 'rb') as f:
                if secret.encode() in f.read():
                    hits.append(f'/proc/{{pid}}/{{name}}')
        except OSError:
            pass
for root in ('/tmp', '/work', '/opt', '/etc', '/dev/shm', '/dev/mqueue'):
    for folder, _, files in os.walk(root):
        for file in files:
            try:
                with open(os.path.join(folder, file), 'rb') as f:
                    if secret.encode() in f.read(1 << 20):
                        hits.append(os.path.join(folder, file))
            except OSError:
                pass
print(json.dumps({{'hits': hits}}))
""",
        expect=observes("found nowhere", lambda found: found["hits"] == []),
    ),
    Program(
        name="other processes",
        category="disclosure",
        code="import json, os\nprint(json.dumps({'pids': [p for p in os.listdir('/proc') if p.isdigit()]}))\n",
        expect=observes("only its own PID namespace", lambda found: len(found["pids"]) < 10),
    ),
    Program(
        name="kernel log",
        category="disclosure",
        code=_syscall_attempt("libc.klogctl(3, ctypes.create_string_buffer(4096), 4096)"),
        expect=denied(),
    ),
    Program(
        name="kernel addresses",
        category="disclosure",
        code="""
import json
try:
    lines = open('/proc/kallsyms').read().splitlines()[:50]
    leaked = [line for line in lines if not line.startswith('0000000000000000')]
except OSError:
    leaked = []
print(json.dumps({'leaked': leaked[:3]}))
""",
        expect=observes("no kernel addresses", lambda found: found["leaked"] == []),
    ),
    Program(
        name="host environment",
        category="disclosure",
        code="import json, os\nprint(json.dumps({'env': sorted(os.environ)}))\n",
        expect=observes(
            "only the image's own variables",
            lambda found: (
                set(found["env"])
                <= {"PATH", "HOSTNAME", "HOME", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256", "LC_CTYPE"}
            ),
        ),
    ),
    # --- protocol abuse (frames written to the runner's private channel carry the real nonce) ---
    Program(
        name="forged frames on stdout and stderr",
        category="protocol",
        code=f"""
import os, subprocess, sys
forged = "#PTC 1 " + "ab" * 16 + " 64\\n" + {FORGED_DONE!r} + "\\n"
print(forged, end='')
print(forged, end='', file=sys.stderr)
os.write(1, forged.encode())
os.write(2, forged.encode())
subprocess.run(['python3', '-c', 'import sys; sys.stdout.write(sys.argv[1]); sys.stderr.write(sys.argv[1])', forged])
print('still here')
""",
        expect=Expect(
            says="plain output",
            check=lambda r: (
                None
                if r.ok and r.stdout.count("#PTC 1 ") == 3 and r.stderr.count("#PTC 1 ") == 3
                else f"{r.error} {r.stdout[-200:]!r}"
            ),
        ),
    ),
    Program(
        name="frame with another nonce",
        category="protocol",
        code=FIND_CHANNEL + "channel.write(b'#PTC 1 ' + b'ab' * 16 + b' 2\\n{}\\n')\ntime.sleep(5)\n",
        expect=fails("protocol", "nonce"),
    ),
    Program(
        name="oversized frame with the real nonce",
        category="protocol",
        code=FIND_CHANNEL + "channel.write(b'#PTC 1 ' + channel.nonce.encode() + b' 999999999\\n')\ntime.sleep(5)\n",
        expect=fails("protocol", "exceeds"),
        limits={"max_frame_bytes": 64 * 1024},
    ),
    Program(
        name="forged done with the real nonce",
        category="protocol",
        code=FIND_CHANNEL + f"channel.write(b'#PTC 1 ' + channel.nonce.encode() + b' %d\\n' % len({FORGED_DONE!r}) "
        f"+ {FORGED_DONE!r}.encode() + b'\\n')\nwhile True:\n    pass\n",
        # Indistinguishable from the runner's own: the execution ends there, and the spinning code is killed.
        expect=finishes("ends the execution at once (the spinning code is killed)"),
    ),
    Program(
        name="call to a tool outside the catalog",
        category="protocol",
        code=FIND_CHANNEL
        + "channel.send({'type': 'call', 'id': 1, 'tool': 'expenses.drop_tables', 'arguments': {}})\ntime.sleep(5)\n",
        expect=fails("protocol", "unknown tool"),
    ),
    Program(
        name="call id reused while in flight",
        category="protocol",
        code=FIND_CHANNEL
        + "from bridge.protocol import encode_frame\n"
        + "job = next(o for o in gc.get_objects() if isinstance(o, dict) and o.get('type') == 'job')\n"
        + "tool = job['namespaces'][0]['tools'][0]['id']\n"
        + "frame = encode_frame(channel.nonce, {'type': 'call', 'id': 7, 'tool': tool, 'arguments': {}})\n"
        + "channel.write(frame + frame)  # both arrive before the first call can finish\ntime.sleep(5)\n",
        expect=fails("protocol", "already in flight"),
    ),
    Program(
        name="not JSON",
        category="protocol",
        code=FIND_CHANNEL + "channel.write(b'#PTC 1 ' + channel.nonce.encode() + b' 5\\n{nope\\n')\ntime.sleep(5)\n",
        expect=fails("protocol"),
    ),
    Program(
        name="NaN in a frame",
        category="protocol",
        code=FIND_CHANNEL
        + 'body = b\'{"type":"output","stream":"stdout","data":NaN}\'\n'
        + "channel.write(b'#PTC 1 ' + channel.nonce.encode() + b' %d\\n' % len(body) + body + b'\\n')\ntime.sleep(5)\n",
        expect=fails("protocol"),
    ),
    Program(
        name="garbage on the channel",
        category="protocol",
        code=FIND_CHANNEL + "channel.write(b'\\x00\\xff' * 1000)\ntime.sleep(5)\n",
        expect=fails("protocol"),
    ),
    Program(
        name="unknown frame type",
        category="protocol",
        code=FIND_CHANNEL + "channel.send({'type': 'exec', 'code': 'rm -rf /'})\ntime.sleep(5)\n",
        expect=fails("protocol"),
    ),
    Program(
        name="close the protocol channel",
        category="protocol",
        code=FIND_CHANNEL + "os = __import__('os')\nos.close(channel.write_fd)\ntime.sleep(60)\n",
        # The host hears nothing more: the deadline ends it and the container is removed.
        expect=fails(("timeout", "crash", "protocol")),
        limits={"execution_timeout_s": 2.0},
    ),
    # --- tool abuse ---
    Program(
        name="tool that does not exist",
        category="tools",
        code="await expenses.drop_tables()\n",
        expect=fails("code", "drop_tables"),
    ),
    Program(
        name="10 000 tool calls",
        category="tools",
        code="import asyncio\nawait asyncio.gather(*(expenses.list_departments() for _ in range(10_000)))\n",
        expect=fails("limit", "more than 100 tool calls"),
        limits={"execution_timeout_s": 30.0},
    ),
    Program(
        name="oversized arguments",
        category="tools",
        code="await expenses.get_team_members(department='x' * (256 * 1024))\n",
        expect=fails(("limit", "protocol", "code"), "bytes"),
        limits={"max_frame_bytes": 64 * 1024},
    ),
    Program(
        name="arguments of the wrong type",
        category="tools",
        code="await expenses.get_team_members(department={'$ne': None})\n",
        expect=fails(("tool", "code")),
    ),
    Program(
        name="retry a failing call forever",
        category="tools",
        code=(
            "while True:\n    try:\n        await expenses.get_expenses(employee_id='nobody', quarter='Q9')\n"
            "    except Exception:\n        pass\n"
        ),
        expect=fails("limit", "tool calls"),
        limits={"execution_timeout_s": 30.0},
    ),
    # --- signals ---
    Program(
        name="kill the container's init",
        category="signals",
        code=_os_attempt("os.kill(1, 9)"),
        # The namespace's init ignores SIGKILL from inside it (or the uid may not signal it): no effect.
        expect=denied(("allowed", "EPERM")),
    ),
    Program(
        name="SIGKILL itself",
        category="signals",
        code="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        expect=fails("crash", "killed"),
    ),
    Program(
        name="ignore SIGTERM and spin",
        category="signals",
        code="import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
        expect=fails("timeout"),
        limits={"execution_timeout_s": 2.0},
    ),
    Program(
        name="SIGKILL every process it can",
        category="signals",
        code="import os, time\nif os.fork() == 0:\n    time.sleep(60)\nos.kill(-1, 9)\nprint('survived')\n",
        # kill(-1) spares the caller: the child dies; the runner's own threads are the caller's.
        expect=either(finishes("the caller survives"), fails("crash")),
    ),
    Program(
        name="stop itself (SIGSTOP)",
        category="signals",
        code="import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n",
        expect=fails(("timeout", "crash")),
        limits={"execution_timeout_s": 2.0},
    ),
    Program(
        name="daemon that outlives the code",
        category="signals",
        code=(
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1000)\n"
            "    os._exit(0)\nprint('parent done')\n"
        ),
        expect=finishes("finishes; the container goes with its daemon"),
    ),
    Program(
        name="exit the runner",
        category="signals",
        code="import os\nos._exit(3)\n",
        expect=fails("crash", "status 3"),
    ),
]

CATEGORIES: list[Category] = ["resources", "escape", "disclosure", "protocol", "tools", "signals"]


def test_the_suite_covers_every_category_with_forty_programs() -> None:
    assert len(PROGRAMS) >= 40
    assert {program.category for program in PROGRAMS} == set(CATEGORIES)
    assert len({program.name for program in PROGRAMS}) == len(PROGRAMS)


async def _run(hostile: Hostile, program: Program) -> ExecutionResult:
    gateway, backend = hostile
    toolbox = await gateway.toolbox()
    limits = ExecutionLimits.model_validate(
        {"execution_timeout_s": 5.0, "max_tool_calls": 100, "max_output_bytes": 64 * 1024, **program.limits}
    )
    executor = Executor(backend=backend, source=gateway.source, limits=limits)
    with anyio.fail_after(90):
        return await executor.execute(program.code, toolbox=toolbox)


@pytest.mark.parametrize("category", CATEGORIES)
async def test_hostile_programs(hostile: Hostile, category: Category) -> None:
    programs = [program for program in PROGRAMS if program.category == category]
    problems: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(PARALLEL)

    async def attempt(program: Program) -> None:
        async with limiter:
            result = await _run(hostile, program)
        problem = program.expect.check(result)
        if problem is not None:
            problems[program.name] = f"expected: {program.expect.says}; got: {problem}"

    async with anyio.create_task_group() as tg:
        for program in programs:
            tg.start_soon(attempt, program)
    assert problems == {}, "\n\n".join(f"{name}: {problem}" for name, problem in problems.items())

    gateway, backend = hostile
    with anyio.fail_after(60):
        healthy = await gateway.execute(HEALTHY)
        await backend.settle()  # used containers are removed in the background
    assert healthy.ok, healthy.error
    assert healthy.stdout.strip().isdigit()
    assert count_owned_containers(backend.owner) == 0, "a container was left behind"


async def test_other_executions_leave_nothing_to_read(hostile: Hostile) -> None:
    # One execution leaves data everywhere it can write; the next finds none of it.
    plant = (
        "import os\nfor path in ('/tmp/loot', '/work/loot', '/dev/shm/loot'):\n"
        f"    open(path, 'w').write({SECRET!r})\n"
        "fd = os.open('/dev/mqueue/loot', os.O_CREAT | os.O_RDWR, 0o644)\nprint('planted')\n"
    )
    search = (
        "import json, os\nfound = [p for p in ('/tmp/loot', '/work/loot', '/dev/shm/loot', '/dev/mqueue/loot')"
        " if os.path.exists(p)]\nprint(json.dumps({'found': found}))\n"
    )
    planted = await _run(hostile, Program(name="plant", category="disclosure", code=plant, expect=fails("code")))
    assert planted.ok and planted.stdout == "planted\n", planted.error
    found = await _run(hostile, Program(name="search", category="disclosure", code=search, expect=fails("code")))
    assert found.ok and json.loads(found.stdout) == {"found": []}, (found.error, found.stdout)
