"""Build the gateway's own container image (`deploy/gateway.Dockerfile`) without a registry.

The base is resolved exactly as for the sandbox image (present, else pulled, else the
debootstrapped Debian, cached as `ptc-debian-base:bookworm`). The Python packages come from a
wheelhouse made on the host: the wheel of this checkout, every dependency as a binary wheel for
the base image's Python and platform (pinned to the versions installed here, the ones the tests
ran with), and pip itself. The build's `RUN` steps then need no network. See docs/deploy.md.
"""

from __future__ import annotations

import hashlib
import io
import platform
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import partial
from importlib import metadata, resources
from pathlib import Path
from typing import Any, TextIO, cast

import anyio
import anyio.to_thread

from gateway import __version__
from gateway.errors import SandboxUnavailableError
from gateway.sandbox._engine import EngineApi, connect_engine, engine_errors
from gateway.sandbox._image import DEFAULT_BOOTSTRAP_TAG, ImageBuildOptions, _resolve_base, _run, _say  # pyright: ignore[reportPrivateUsage]

__all__ = ["DEFAULT_GATEWAY_TAG", "GatewayImageOptions", "build_gateway_image", "gateway_dockerfile"]

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
        base = await _resolve_base(
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
        _say(out, f"base {base} has Python {python}")
        with tempfile.TemporaryDirectory(prefix="ptc-wheelhouse-") as tmp:
            wheelhouse = Path(tmp)
            await make_wheelhouse(source, wheelhouse, python=python, out=out)
            return await anyio.to_thread.run_sync(
                partial(_build_sync, api, options, base, dockerfile.read_bytes(), wheelhouse, out)
            )
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


async def make_wheelhouse(source: Path, wheelhouse: Path, *, python: str, out: TextIO) -> None:
    """The checkout's wheel, its dependencies for `python` (binary wheels only) and pip, into `wheelhouse`."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _say(out, f"building the ptc-gateway wheel from {source}")
    await _run(out, *pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheelhouse), str(source))
    (wheel,) = [path async for path in anyio.Path(wheelhouse).glob("ptc_gateway-*.whl")]
    constraints = wheelhouse.parent / f"{wheelhouse.name}-constraints.txt"
    await anyio.Path(constraints).write_text(_constraints(), encoding="utf-8")
    try:
        _say(out, f"downloading the dependencies as wheels for CPython {python}")
        abi = "cp" + python.replace(".", "")
        platforms = [arg for tag in _platforms() for arg in ("--platform", tag)]
        await _run(
            out,
            *pip,
            "download",
            "--quiet",
            "--dest",
            str(wheelhouse),
            "--only-binary=:all:",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--abi",
            abi,
            *platforms,
            "--constraint",
            str(constraints),
            str(wheel),
            "pip",
        )
    finally:
        await anyio.Path(constraints).unlink(missing_ok=True)


def _context(dockerfile: bytes, wheelhouse: Path) -> io.BytesIO:
    """Dockerfile + `wheelhouse/app/` (our wheel) and `wheelhouse/deps/`; fixed metadata for the build cache."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        files = [("Dockerfile", dockerfile)] + [
            (f"wheelhouse/{'app' if path.name.startswith('ptc_gateway-') else 'deps'}/{path.name}", path.read_bytes())
            for path in sorted(wheelhouse.glob("*.whl"))
        ]
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _build_sync(
    api: EngineApi, options: GatewayImageOptions, base: str, dockerfile: bytes, wheelhouse: Path, out: TextIO
) -> str:
    context = _context(dockerfile, wheelhouse)
    digest = hashlib.sha256(context.getbuffer()).hexdigest()
    _say(out, f"building {options.tag} on {base} ({len(context.getbuffer()) / 1e6:.1f} MB context)")
    image_id: str | None = None
    with engine_errors(f"building {options.tag}"):
        for chunk in api.build(
            fileobj=context,
            custom_context=True,
            tag=options.tag,
            buildargs={"BASE_IMAGE": base},
            labels={VERSION_LABEL: __version__, "ptc-gateway.context-digest": digest},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            network_mode="none",
        ):
            if "error" in chunk:
                detail = cast(dict[str, Any], chunk.get("errorDetail") or {})
                raise SandboxUnavailableError(
                    f"building {options.tag} failed: {detail.get('message') or chunk['error']}"
                )
            if "stream" in chunk:
                out.write(str(chunk["stream"]))
                out.flush()
            elif "aux" in chunk:
                image_id = str(cast(dict[str, Any], chunk["aux"]).get("ID", image_id))
    if image_id is None:
        image_id = str(api.inspect_image(options.tag)["Id"])
    _say(out, f"built {options.tag} ({image_id[:19]})")
    return image_id
