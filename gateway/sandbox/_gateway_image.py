"""Build the gateway's own container image (`deploy/gateway.Dockerfile`) without a registry.

The base is resolved exactly as for the sandbox image (present, else pulled, else the
debootstrapped Debian, cached as `ptc-debian-base:bookworm`). The Python packages come from a
wheelhouse made on the host: the wheel of this checkout, every dependency as a binary wheel for
the base image's Python and platform (pinned to the versions installed here, the ones the tests
ran with), and pip itself. The build's `RUN` steps then need no network. See docs/deploy.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from functools import partial
from importlib import metadata, resources
from pathlib import Path
from typing import TextIO

import anyio
import anyio.to_thread

from gateway import __version__
from gateway.errors import SandboxUnavailableError
from gateway.sandbox._engine import EngineApi, connect_engine, engine_errors
from gateway.sandbox._image import (
    DEFAULT_BOOTSTRAP_TAG,
    ImageBuildOptions,
    resolve_base,
    run_build,
    run_logged,
    say,
)

__all__ = [
    "DEFAULT_GATEWAY_TAG",
    "GatewayImageOptions",
    "build_gateway_image",
    "gateway_dockerfile",
    "make_wheelhouse",
    "wheelhouse_cache_dir",
]

DEFAULT_GATEWAY_TAG = "ptc-gateway:latest"
VERSION_LABEL = "ptc-gateway.version"
_PACKAGED_DOCKERFILE = "_deploy/gateway.Dockerfile"
_PROBE_TIMEOUT_S = 60
_OLDEST_GLIBC_MINOR = 17


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayImageOptions:
    """What `ptc-gateway image build --gateway` builds."""

    tag: str = DEFAULT_GATEWAY_TAG
    source: Path | None = None
    """The checkout whose wheel goes into the image; default: the one this package runs from."""
    base_image: str = DEFAULT_BOOTSTRAP_TAG
    """Any image with CPython >= 3.11 and its `venv` module (plus `useradd`)."""
    pull: bool = True
    debian_mirror: str | None = None
    debian_suite: str = "bookworm"
    bootstrap_tag: str = DEFAULT_BOOTSTRAP_TAG
    docker_host: str | None = None


def gateway_dockerfile() -> Path:
    """`deploy/gateway.Dockerfile`: package data in a wheel, the repository's file in a checkout."""
    packaged = resources.files("gateway") / _PACKAGED_DOCKERFILE
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "deploy" / "gateway.Dockerfile"


def _default_source() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise SandboxUnavailableError(
            "building the gateway image needs a ptc-gateway checkout (its wheel goes into the image); "
            "run it from one or pass --source DIR"
        )
    return root


async def build_gateway_image(options: GatewayImageOptions, *, out: TextIO = sys.stderr) -> str:
    """Build the gateway image; returns its id. Progress goes to `out`."""
    source = options.source or _default_source()
    dockerfile = gateway_dockerfile()
    if not dockerfile.is_file():
        raise SandboxUnavailableError(f"no gateway Dockerfile at {dockerfile}")
    api = await anyio.to_thread.run_sync(partial(connect_engine, options.docker_host))
    try:
        base = await resolve_base(
            api,
            ImageBuildOptions(
                base_image=options.base_image,
                pull=options.pull,
                debian_mirror=options.debian_mirror,
                debian_suite=options.debian_suite,
                bootstrap_tag=options.bootstrap_tag,
            ),
            out,
        )
        python = await anyio.to_thread.run_sync(partial(_base_python, api, base))
        say(out, f"base {base} has Python {python}")
        with tempfile.TemporaryDirectory(prefix="ptc-wheelhouse-") as tmp:
            wheelhouse = Path(tmp)
            deps = await make_wheelhouse(source, wheelhouse, python=python, out=out)
            context = await anyio.to_thread.run_sync(_context, dockerfile.read_bytes(), wheelhouse, deps)
            return await anyio.to_thread.run_sync(partial(_build_sync, api, options, base, context, out))
    finally:
        await anyio.to_thread.run_sync(api.close)


def _base_python(api: EngineApi, image: str) -> str:
    """`major.minor` of the base image's python3 (a throwaway container without network)."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    with engine_errors(f"asking {image} for its Python version"):
        container = api.create_container(
            image, command=["python3", "-c", probe], host_config=api.create_host_config(network_mode="none")
        )
        try:
            api.start(container["Id"])
            status = api.wait(container["Id"], timeout=_PROBE_TIMEOUT_S)
            output = api.logs(container["Id"], stdout=True, stderr=True).decode("utf-8", "replace").strip()
        finally:
            api.remove_container(container["Id"], force=True)
    version = output.splitlines()[-1] if output else ""
    if status.get("StatusCode") != 0 or not version.replace(".", "").isdigit():
        raise SandboxUnavailableError(f"base image {image} has no working python3: {output[-300:]!r}")
    if tuple(int(part) for part in version.split(".")) < (3, 11):
        raise SandboxUnavailableError(f"the gateway needs Python >= 3.11; base image {image} has {version}")
    return version


def _constraints() -> str:
    """`name==version` of every distribution installed here but ptc-gateway: the image gets what was tested."""
    pins = {
        dist.metadata["Name"].lower(): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "ptc-gateway"
    }
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def _platforms() -> list[str]:
    machine = platform.machine()
    arch = {"arm64": "aarch64", "amd64": "x86_64"}.get(machine.lower(), machine)
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(_OLDEST_GLIBC_MINOR, 41)]
    return [*tags, f"manylinux2014_{arch}", "any"]


def _wheel_requirements(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata_text = archive.read(name).decode("utf-8")
    return "\n".join(line for line in metadata_text.splitlines() if line.startswith("Requires-Dist:"))


def wheelhouse_cache_dir() -> Path:
    """Where downloaded dependency wheelhouses are kept (`$XDG_CACHE_HOME/ptc-gateway/wheelhouse`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ptc-gateway" / "wheelhouse"


async def make_wheelhouse(source: Path, wheelhouse: Path, *, python: str, out: TextIO) -> Path:
    """The checkout's wheel into `wheelhouse`; returns the directory of its dependency wheels (and pip).

    The dependencies are binary wheels for `python` and this machine's architecture, pinned to the
    versions installed here. They are kept in `wheelhouse_cache_dir()` under a key over the pins, the
    wheel's requirements, the Python version and the platforms, so an unchanged set is downloaded once.
    """
    if importlib.util.find_spec("pip") is None:
        raise SandboxUnavailableError(
            f"building the gateway image needs pip in the environment running ptc-gateway ({sys.executable}); "
            "install it (`python -m ensurepip`) or build from the checkout's .venv"
        )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    say(out, f"building the ptc-gateway wheel from {source}")
    await run_logged(out, *pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheelhouse), str(source))
    (wheel,) = [Path(path) async for path in anyio.Path(wheelhouse).glob("ptc_gateway-*.whl")]
    constraints_text = _constraints()
    platforms = _platforms()
    key = hashlib.sha256(
        "\0".join(
            [constraints_text, await anyio.to_thread.run_sync(_wheel_requirements, wheel), python, *platforms]
        ).encode("utf-8")
    ).hexdigest()[:24]
    deps = wheelhouse_cache_dir() / f"py{python}-{key}"
    if await anyio.Path(deps).is_dir():
        say(out, f"using the cached dependency wheels in {deps}")
        return deps
    download = wheelhouse / "deps"
    constraints = wheelhouse / "constraints.txt"
    await anyio.Path(constraints).write_text(constraints_text, encoding="utf-8")
    say(out, f"downloading the dependencies as wheels for CPython {python}")
    await run_logged(
        out,
        *pip,
        "download",
        "--quiet",
        "--dest",
        str(download),
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        "cp" + python.replace(".", ""),
        *[arg for tag in platforms for arg in ("--platform", tag)],
        "--constraint",
        str(constraints),
        str(wheel),
        "pip",
    )
    for stale in [path async for path in anyio.Path(download).glob("ptc_gateway-*.whl")]:
        await stale.unlink()
    await anyio.Path(deps.parent).mkdir(parents=True, exist_ok=True)
    try:
        await anyio.to_thread.run_sync(shutil.copytree, download, deps.with_name(deps.name + ".tmp"))
        await anyio.Path(deps.with_name(deps.name + ".tmp")).rename(deps)
    except OSError as e:  # a cache we cannot write only costs the next build a download
        say(out, f"not caching the dependency wheels: {e}")
        return download
    return deps


def _context(dockerfile: bytes, app: Path, deps: Path) -> io.BytesIO:
    """Dockerfile + `wheelhouse/app/` (our wheel) and `wheelhouse/deps/`; fixed metadata for the build cache."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        files = [("Dockerfile", dockerfile)]
        files += [(f"wheelhouse/app/{path.name}", path.read_bytes()) for path in sorted(app.glob("ptc_gateway-*.whl"))]
        files += [(f"wheelhouse/deps/{path.name}", path.read_bytes()) for path in sorted(deps.glob("*.whl"))]
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _build_sync(api: EngineApi, options: GatewayImageOptions, base: str, context: io.BytesIO, out: TextIO) -> str:
    digest = hashlib.sha256(context.getbuffer()).hexdigest()
    say(out, f"building {options.tag} on {base} ({len(context.getbuffer()) / 1e6:.1f} MB context)")
    return run_build(
        api,
        options.tag,
        out,
        fileobj=context,
        buildargs={"BASE_IMAGE": base},
        labels={VERSION_LABEL: __version__, "ptc-gateway.context-digest": digest},
        network_mode="none",
    )
