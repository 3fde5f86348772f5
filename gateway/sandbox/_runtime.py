"""The bridge runtime as a container sees it: baked into our image, or injected over stdin.

Our image (`sandbox_image/Dockerfile`) copies `bridge/` to `/opt/ptc/bridge` and labels itself
with the digest of those sources. Any other image with a Python >= 3.10 works too: the container
command is then a small bootstrap (`python3 -I -c BOOTSTRAP`) that reads the bridge sources from
stdin, installs them as in-memory modules and hands stdin/stdout to the runner before the first
protocol frame. Nothing is written to the (read-only) filesystem.

Injection payload on stdin: ``<decimal length>, newline, <JSON [[module, is_package, source], ...]>``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

__all__ = [
    "BAKED_RUNTIME_DIR",
    "DIGEST_LABEL",
    "EXIT_NO_PAYLOAD",
    "EXIT_OLD_PYTHON",
    "RuntimeMode",
    "bridge_digest",
    "bridge_sources",
    "injection_payload",
    "runner_command",
]

BAKED_RUNTIME_DIR = "/opt/ptc"
"""Where our image keeps the `bridge` package (on `sys.path` of the baked command)."""
DIGEST_LABEL = "ptc-gateway.bridge-digest"
"""Image label: sha256 of the bridge sources baked into it (see `bridge_digest`)."""
EXIT_OLD_PYTHON = 97
EXIT_NO_PAYLOAD = 98

RuntimeMode = Literal["baked", "stdin"]


_BAKED = f"import sys; sys.path.insert(0, {BAKED_RUNTIME_DIR!r}); from bridge.runner import main; main()"

# Runs inside the container on any CPython >= 3.10 (and must fail clearly on older ones).
# It reads exactly the payload with os.read, so not one byte of the protocol is consumed, then
# serves the sources from memory through a meta-path finder (imports work in any order).
_BOOTSTRAP = f"""\
import os, sys
if sys.version_info < (3, 10):
    os.write(2, b"ptc-gateway: the sandbox image needs Python >= 3.10\\n")
    os._exit({EXIT_OLD_PYTHON})
def _read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            os.write(2, b"ptc-gateway: stdin closed before the bridge runtime arrived\\n")
            os._exit({EXIT_NO_PAYLOAD})
        data += chunk
    return data
_head = b""
while not _head.endswith(b"\\n") and len(_head) < 16:
    _head += _read(1)
import json, importlib.util
class _Bridge:
    def __init__(self, modules):
        self.modules = {{name: (package, source) for name, package, source in modules}}
    def _path(self, name):
        return "/ptc-bridge/" + name.replace(".", "/") + ("/__init__.py" if self.modules[name][0] else ".py")
    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        spec = importlib.util.spec_from_loader(name, self, origin=self._path(name), is_package=self.modules[name][0])
        spec.has_location = True
        return spec
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(compile(self.modules[module.__name__][1], self._path(module.__name__), "exec"), module.__dict__)
    def get_source(self, name):
        return self.modules[name][1]
sys.meta_path.insert(0, _Bridge(json.loads(_read(int(_head)).decode("utf-8"))))
del _read, _head
import bridge.runner
bridge.runner.main()
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    module: str
    package: bool
    path: str
    text: str


@cache
def _sources() -> tuple[_Source, ...]:
    found: list[_Source] = []
    for entry in resources.files("bridge").iterdir():
        if not entry.name.endswith(".py") or not entry.is_file():
            continue
        package = entry.name == "__init__.py"
        module = "bridge" if package else f"bridge.{entry.name.removesuffix('.py')}"
        found.append(
            _Source(module=module, package=package, path=f"bridge/{entry.name}", text=entry.read_text("utf-8"))
        )
    return tuple(sorted(found, key=lambda source: source.path))


def bridge_sources() -> dict[str, str]:
    """Relative path -> source text of every bridge module the runner needs."""
    return {source.path: source.text for source in _sources()}


@cache
def bridge_digest() -> str:
    """A sha256 over the bridge sources; an image whose label differs carries a stale runtime."""
    digest = hashlib.sha256()
    for path, text in bridge_sources().items():
        digest.update(path.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()


@cache
def injection_payload() -> bytes:
    """What the bootstrap reads from stdin before the runner starts."""
    body = json.dumps([[s.module, s.package, s.text] for s in _sources()], ensure_ascii=False).encode("utf-8")
    return b"%d\n" % len(body) + body


def runner_command(mode: RuntimeMode, *, python: str = "python3") -> list[str]:
    """The container command that starts the runner.

    `-I` (isolated mode) ignores every `PYTHON*` variable and the user site directory, and keeps
    the working directory off `sys.path`.
    """
    match mode:
        case "baked":
            return [python, "-I", "-c", _BAKED]
        case "stdin":
            return [python, "-I", "-c", _BOOTSTRAP]
