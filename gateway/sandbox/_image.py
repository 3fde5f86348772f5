"""Build the sandbox image, bootstrapping a Debian base when no registry is reachable.

`build_image` sends a context holding `sandbox_image/Dockerfile`, `requirements.txt` and the
bridge sources to the engine's build API (in a worker thread, streaming progress to `out`). The
base image is used when present, else pulled; when the pull fails (an air-gapped engine) a
minimal Debian (`debootstrap --variant=minbase --include=python3`) is bootstrapped from the
mirror apt is already configured with, imported with `docker import` and cached under
`ImageBuildOptions.bootstrap_tag`, so it is done once per engine. See docs/sandbox-image.md.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import anyio
import anyio.to_thread

from gateway.errors import SandboxUnavailableError
from gateway.sandbox._engine import (
    EngineApi,
    ImageMissingError,
    NotFoundError,
    connect_engine,
    engine_errors,
)
from gateway.sandbox._runtime import DIGEST_LABEL, bridge_digest, bridge_sources

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_BOOTSTRAP_TAG",
    "ImageBuildOptions",
    "ImageStatus",
    "build_image",
    "find_debian_mirror",
    "image_status",
    "recipe_digest",
    "recipe_dir",
]

DEFAULT_BASE_IMAGE = "python:3.12-slim"
DEFAULT_BOOTSTRAP_TAG = "ptc-debian-base:bookworm"
_PACKAGED_RECIPE = "_sandbox_image"
"""Where the wheel carries `sandbox_image/` (hatch `force-include` into the `gateway` package)."""
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ImageStatus = Literal["missing", "stale", "current"]
RECIPE_LABEL = "ptc-gateway.recipe-digest"
"""Label carrying `recipe_digest` of the build: a changed Dockerfile or requirements file makes the image stale."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBuildOptions:
    """What `ptc-gateway image build` builds."""

    tag: str = "ptc-sandbox:latest"
    base_image: str = DEFAULT_BASE_IMAGE
    extra_packages: tuple[str, ...] = ()
    """Extra pip packages (needs pip in the base image and network during the build)."""
    requirements: Path | None = None
    """A requirements file to install; default `sandbox_image/requirements.txt`."""
    dockerfile_dir: Path = field(default_factory=lambda: recipe_dir())
    """The recipe: `Dockerfile` and `requirements.txt`; default `recipe_dir()`."""
    pull: bool = True
    """Try to pull a missing base image before falling back to debootstrap."""
    bootstrap: Literal["auto", "always", "never"] = "auto"
    """`always`: skip the base image and build on the debootstrapped Debian."""
    debian_suite: str = "bookworm"
    debian_mirror: str | None = None
    """Default: the Debian mirror from apt's configured sources."""
    bootstrap_tag: str = DEFAULT_BOOTSTRAP_TAG
    docker_host: str | None = None
    build_network: str | None = None
    """Network of the build's RUN steps; default `host` when installing packages, else `none`."""
    labels: dict[str, str] = field(default_factory=dict[str, str])


def recipe_dir() -> Path:
    """The shipped image recipe (`Dockerfile`, `requirements.txt`).

    An installed wheel carries `sandbox_image/` as package data inside `gateway` (found through
    `importlib.resources`); a checkout (or an editable install of one) uses the top-level directory.
    """
    packaged = resources.files("gateway") / _PACKAGED_RECIPE
    if isinstance(packaged, Path) and (packaged / "Dockerfile").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "sandbox_image"


def recipe_digest(options: ImageBuildOptions) -> str:
    """A sha256 over what the build makes of the base: the Dockerfile, the requirements and extra packages."""
    dockerfile, requirements = _recipe_files(options)
    digest = hashlib.sha256()
    for part in (dockerfile.read_bytes(), requirements.read_bytes() if requirements.is_file() else b""):
        digest.update(hashlib.sha256(part).digest())
    digest.update("\0".join(options.extra_packages).encode("utf-8"))
    return digest.hexdigest()


def _recipe_files(options: ImageBuildOptions) -> tuple[Path, Path]:
    dockerfile = options.dockerfile_dir / "Dockerfile"
    if not dockerfile.is_file():
        raise SandboxUnavailableError(f"no Dockerfile at {dockerfile}")
    return dockerfile, options.requirements or options.dockerfile_dir / "requirements.txt"


async def image_status(
    tag: str, *, docker_host: str | None = None, options: ImageBuildOptions | None = None
) -> ImageStatus:
    """Whether the image exists, carries the current bridge runtime and was built from `options`' recipe.

    `options` defaults to a plain `ImageBuildOptions()` (the repository's Dockerfile and requirements).
    """
    recipe = await anyio.to_thread.run_sync(recipe_digest, options or ImageBuildOptions())
    api = await anyio.to_thread.run_sync(partial(connect_engine, docker_host))
    try:
        details = await _inspect(api, tag)
    finally:
        await anyio.to_thread.run_sync(api.close)
    if details is None:
        return "missing"
    config = cast(dict[str, Any], details.get("Config") or {})
    labels = cast(dict[str, str], config.get("Labels") or {})
    current = labels.get(DIGEST_LABEL) == bridge_digest() and labels.get(RECIPE_LABEL) == recipe
    return "current" if current else "stale"


async def build_image(options: ImageBuildOptions, *, out: TextIO = sys.stderr) -> str:
    """Build the sandbox image; returns its id. Progress goes to `out` as it happens."""
    api = await anyio.to_thread.run_sync(partial(connect_engine, options.docker_host))
    try:
        base = await resolve_base(api, options, out)
        return await anyio.to_thread.run_sync(partial(_build_sync, api, options, base, out))
    finally:
        await anyio.to_thread.run_sync(api.close)


async def _inspect(api: EngineApi, image: str) -> dict[str, Any] | None:
    try:
        with engine_errors(f"inspecting image {image!r}"):
            return await anyio.to_thread.run_sync(api.inspect_image, image)
    except (ImageMissingError, NotFoundError):
        return None


async def resolve_base(api: EngineApi, options: ImageBuildOptions, out: TextIO) -> str:
    if options.bootstrap != "always":
        if await _inspect(api, options.base_image) is not None:
            say(out, f"base image {options.base_image} is present")
            return options.base_image
        if options.pull:
            say(out, f"pulling base image {options.base_image}")
            error = await anyio.to_thread.run_sync(partial(_pull_sync, api, options.base_image, out))
            if error is None:
                return options.base_image
            say(out, f"cannot pull {options.base_image}: {error}")
        if options.bootstrap == "never":
            raise SandboxUnavailableError(
                f"base image {options.base_image!r} is missing and could not be pulled (bootstrap disabled)"
            )
    if await _inspect(api, options.bootstrap_tag) is not None:
        say(out, f"using the cached bootstrapped base {options.bootstrap_tag}")
        return options.bootstrap_tag
    await bootstrap_debian(api, options, out)
    return options.bootstrap_tag


def _pull_sync(api: EngineApi, image: str, out: TextIO) -> str | None:
    repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    try:
        with engine_errors(f"pulling {image}"):
            for chunk in api.pull(repository, tag=tag, stream=True, decode=True):
                status = cast(dict[str, Any], chunk)
                if "error" in status:
                    return str(status["error"])
                if status.get("status") and not status.get("progressDetail"):
                    say(out, f"{status.get('id', '')} {status['status']}".strip())
    except SandboxUnavailableError as e:
        return str(e)
    return None


def find_debian_mirror(suite: str, *, apt_dir: Path = Path("/etc/apt")) -> str | None:
    """The first mirror in apt's sources (one-line or deb822 format) that serves `suite`."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {
                    key.strip().lower(): value.strip()
                    for key, _, value in (
                        line.partition(":") for line in stanza.splitlines() if not line.startswith("#")
                    )
                }
                if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
                    return fields.get("uris", "").split()[0] if fields.get("uris") else None
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return None


async def bootstrap_debian(api: EngineApi, options: ImageBuildOptions, out: TextIO) -> None:
    """Debootstrap a minimal Debian with python3 and import it as `options.bootstrap_tag`."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SandboxUnavailableError(
            "the base image cannot be pulled and `debootstrap` is not installed; run scripts/ensure-docker as root "
            "(it installs debootstrap), or make the base image available to the engine"
        )
    if os.geteuid() != 0:
        raise SandboxUnavailableError("bootstrapping a Debian base needs root (debootstrap); run the build as root")
    mirror = options.debian_mirror or find_debian_mirror(options.debian_suite)
    if mirror is None:
        raise SandboxUnavailableError(f"no apt source serves Debian {options.debian_suite!r}; pass --debian-mirror URL")
    workdir = Path(await anyio.to_thread.run_sync(partial(tempfile.mkdtemp, prefix="ptc-debootstrap-", dir="/var/tmp")))
    try:
        root = workdir / "root"
        say(out, f"bootstrapping Debian {options.debian_suite} (minbase + python3) from {mirror}")
        await run_logged(
            out,
            debootstrap,
            "--variant=minbase",
            "--include=python3",
            options.debian_suite,
            str(root),
            mirror,
        )
        await anyio.to_thread.run_sync(_trim_rootfs, root)
        archive = workdir / "rootfs.tar"
        say(out, "packing the root filesystem")
        await run_logged(out, "tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), ".")
        say(out, f"importing it as {options.bootstrap_tag}")
        repository, _, tag = options.bootstrap_tag.rpartition(":")
        with engine_errors("importing the bootstrapped base"):
            await anyio.to_thread.run_sync(
                partial(
                    api.import_image,
                    src=str(archive),
                    repository=repository,
                    tag=tag,
                    changes=[f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]'],
                )
            )
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(partial(shutil.rmtree, workdir, ignore_errors=True))


def _trim_rootfs(root: Path) -> None:
    """Drop what the sandbox never needs: downloaded packages and apt lists."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "var/cache/apt/*.bin"):
        for path in root.glob(pattern):
            path.unlink(missing_ok=True)


async def run_logged(out: TextIO, *command: str) -> None:
    tail: list[str] = []
    async with await anyio.open_process(command, stdin=None, stderr=-2) as process:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                tail = [*tail[-19:], text]
                say(out, f"  {text}")
        await process.wait()
    if process.returncode != 0:
        raise SandboxUnavailableError(f"{command[0]} failed (exit {process.returncode}): " + "\n".join(tail))


def build_context(options: ImageBuildOptions) -> io.BytesIO:
    dockerfile, requirements = _recipe_files(options)
    files: dict[str, bytes] = {
        "Dockerfile": dockerfile.read_bytes(),
        "requirements.txt": requirements.read_bytes() if requirements.is_file() else b"",
    }
    files.update({path: text.encode("utf-8") for path, text in bridge_sources().items()})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _build_sync(api: EngineApi, options: ImageBuildOptions, base: str, out: TextIO) -> str:
    requirements = options.requirements or options.dockerfile_dir / "requirements.txt"
    wanted = requirements.read_text(encoding="utf-8").splitlines() if requirements.is_file() else []
    installs = bool(options.extra_packages) or any(
        line.strip() and not line.lstrip().startswith("#") for line in wanted
    )
    network = options.build_network or ("host" if installs else "none")
    say(out, f"building {options.tag} on {base}")
    return run_build(
        api,
        options.tag,
        out,
        fileobj=build_context(options),
        buildargs={
            "BASE_IMAGE": base,
            "EXTRA_PACKAGES": " ".join(options.extra_packages),
            "BRIDGE_DIGEST": bridge_digest(),
        },
        labels={**options.labels, RECIPE_LABEL: recipe_digest(options)},
        network_mode=network,
    )


def run_build(api: EngineApi, tag: str, out: TextIO, **build: Any) -> str:
    """One `docker build` of a custom context (never pulling), its output streamed to `out`; the image id.

    `build` is the rest of the engine's build arguments (`fileobj`, `buildargs`, `labels`,
    `network_mode`). A build error raises `SandboxUnavailableError` with the engine's message.
    """
    image_id: str | None = None
    with engine_errors(f"building {tag}"):
        for chunk in api.build(custom_context=True, tag=tag, rm=True, forcerm=True, pull=False, decode=True, **build):
            if "error" in chunk:
                detail = cast(dict[str, Any], chunk.get("errorDetail") or {})
                raise SandboxUnavailableError(f"building {tag} failed: {detail.get('message') or chunk['error']}")
            if "stream" in chunk:
                out.write(str(chunk["stream"]))
                out.flush()
            elif "aux" in chunk:
                image_id = str(cast(dict[str, Any], chunk["aux"]).get("ID", image_id))
            elif "status" in chunk:
                say(out, str(chunk["status"]))
    if image_id is None:
        image_id = str(api.inspect_image(tag)["Id"])
    say(out, f"built {tag} ({image_id[:19]})")
    return image_id


def say(out: TextIO, text: str) -> None:
    out.write(f"image: {text}\n")
    out.flush()
