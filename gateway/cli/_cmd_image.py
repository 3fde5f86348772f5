"""`ptc-gateway image build|status`: the sandbox image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli._common import add_fleet_options, load_fleet_settings
from gateway.sandbox import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_BOOTSTRAP_TAG,
    DEFAULT_GATEWAY_TAG,
    GatewayImageOptions,
    ImageBuildOptions,
    build_gateway_image,
    build_image,
    image_status,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `image build` and `image status`."""
    parser = subparsers.add_parser("image", help="build or inspect the sandbox image")
    commands = parser.add_subparsers(dest="image_command", required=True, metavar="ACTION")

    build = commands.add_parser(
        "build",
        help="build the sandbox image (bootstraps a Debian base with debootstrap when no registry is reachable)",
    )
    add_fleet_options(build)
    build.add_argument("--tag", default=None, help="image tag (default: [sandbox] image, ptc-sandbox:latest)")
    build.add_argument(
        "--base-image",
        default=None,
        help=f"base image with Python >= 3.10 (default {DEFAULT_BASE_IMAGE}; with --gateway {DEFAULT_BOOTSTRAP_TAG})",
    )
    build.add_argument(
        "--extra-package",
        action="append",
        default=[],
        metavar="PKG",
        help="extra pip package for the model's code (repeatable; needs pip in the base image)",
    )
    build.add_argument("--requirements", type=Path, default=None, help="a requirements file to install")
    build.add_argument(
        "--bootstrap",
        choices=("auto", "always", "never"),
        default="auto",
        help="debootstrap a Debian base: when the base image cannot be pulled (auto), always, or never",
    )
    build.add_argument("--no-pull", action="store_true", help="do not try to pull a missing base image")
    build.add_argument("--debian-mirror", default=None, help="Debian mirror URL (default: from apt's sources)")
    build.add_argument("--debian-suite", default="bookworm")
    build.add_argument("--bootstrap-tag", default=DEFAULT_BOOTSTRAP_TAG, help="tag of the cached bootstrapped base")
    build.add_argument(
        "--if-missing", action="store_true", help="do nothing when the image exists with the current runtime and recipe"
    )
    build.add_argument(
        "--gateway",
        action="store_true",
        help=f"build the gateway's own image (deploy/gateway.Dockerfile; default tag {DEFAULT_GATEWAY_TAG}) instead",
    )
    build.add_argument(
        "--source", type=Path, default=None, help="with --gateway: the checkout to package (default: this one)"
    )
    build.set_defaults(handler=_build)

    status = commands.add_parser("status", help="say whether the image exists and carries the current runtime")
    add_fleet_options(status)
    status.add_argument("--tag", default=None)
    status.set_defaults(handler=_status)


async def _build(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    if args.gateway:
        await build_gateway_image(
            GatewayImageOptions(
                tag=args.tag or DEFAULT_GATEWAY_TAG,
                source=args.source,
                base_image=args.base_image or DEFAULT_BOOTSTRAP_TAG,
                pull=not args.no_pull,
                debian_mirror=args.debian_mirror,
                debian_suite=args.debian_suite,
                bootstrap_tag=args.bootstrap_tag,
                docker_host=settings.sandbox.docker_host,
            ),
            out=sys.stderr,
        )
        return 0
    tag: str = args.tag or settings.sandbox.image
    options = ImageBuildOptions(
        tag=tag,
        base_image=args.base_image or DEFAULT_BASE_IMAGE,
        extra_packages=tuple(args.extra_package),
        requirements=args.requirements,
        pull=not args.no_pull,
        bootstrap=args.bootstrap,
        debian_mirror=args.debian_mirror,
        debian_suite=args.debian_suite,
        bootstrap_tag=args.bootstrap_tag,
        docker_host=settings.sandbox.docker_host,
    )
    if args.if_missing:
        state = await image_status(tag, docker_host=settings.sandbox.docker_host, options=options)
        if state == "current":
            print(f"image: {tag} is up to date", file=sys.stderr)
            return 0
        print(f"image: {tag} is {state}; building it", file=sys.stderr)
    await build_image(options, out=sys.stderr)
    return 0


async def _status(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    tag: str = args.tag or settings.sandbox.image
    state = await image_status(tag, docker_host=settings.sandbox.docker_host)
    print(f"{tag}: {state}")
    return 0 if state == "current" else 1
