"""Run one question against a `Gateway` (the composition root), in PTC or classic mode."""

from __future__ import annotations

from typing import assert_never

from gateway.app import Gateway
from gateway.config import ModelSettings
from gateway.models import BaseModelClient, ModelProfile
from gateway.orchestrator._accounting import Mode, RunResult
from gateway.orchestrator._classic import run_classic
from gateway.orchestrator._loop import Hooks
from gateway.orchestrator._ptc import run_ptc

__all__ = ["ask"]


async def ask(
    gateway: Gateway,
    question: str,
    *,
    model: BaseModelClient,
    mode: Mode = "ptc",
    settings: ModelSettings | None = None,
    profile: ModelProfile | None = None,
    hooks: Hooks | None = None,
) -> RunResult:
    """Answer `question` with the gateway's fleet; the fleet should be ready (`fleet.wait_ready()`).

    Both modes go through the same approval policy; without an interactive user, calls whose
    policy is `ask` are refused (inside the code in PTC mode, as an error result in classic mode).
    """
    settings = settings or gateway.settings.model
    match mode:
        case "ptc":
            toolbox = await gateway.toolbox()
            return await run_ptc(
                question,
                model=model,
                stubs_prompt=toolbox.prompt.text,
                execute=gateway.execute,
                settings=settings,
                profile=profile,
                hooks=hooks,
            )
        case "classic":
            return await run_classic(
                question,
                model=model,
                source=gateway.approval_source(None),
                settings=settings,
                profile=profile,
                hooks=hooks,
            )
        case _:
            assert_never(mode)
