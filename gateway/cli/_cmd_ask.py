"""`ptc-gateway ask "question"`: the Bedrock orchestrator from the command line.

The answer goes to stdout (streamed through ConverseStream as the model writes it); progress
(programs run, tool calls) and the run's summary go to stderr. `--json` prints one JSON object
`{"answer", "stop", "stats"}` on stdout instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, cast

from gateway.app import open_gateway
from gateway.cli._common import FLEET_READY_TIMEOUT_S, add_fleet_options, add_sandbox_option, load_fleet_settings
from gateway.errors import ConfigError, GatewayError
from gateway.models import BedrockModelClient
from gateway.orchestrator import Hooks, Mode, RunResult, ask
from gateway.telemetry import TracedModelClient, trace_agent

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `ask`."""
    parser = subparsers.add_parser(
        "ask",
        help="answer a question with a Bedrock model that writes code against the fleet (PTC) or calls tools (classic)",
        description="Ask a Bedrock model a question about your MCP fleet. In ptc mode the model sees the fleet "
        "as Python stubs and writes one program that runs in the sandbox; in classic mode it calls the tools "
        "one by one. Credentials, region and profile come from the standard AWS chain.",
    )
    parser.add_argument("question", help="the question, in quotes")
    add_fleet_options(parser)
    parser.add_argument("--model", metavar="ID", default=None, help="Bedrock model id (env PTC_MODEL_ID; [model] id)")
    parser.add_argument("--mode", choices=("ptc", "classic"), default="ptc", help="default: ptc")
    parser.add_argument("--json", action="store_true", help="print {answer, stop, stats} as JSON on stdout")
    add_sandbox_option(parser)
    parser.add_argument("--show-code", action="store_true", help="print each program the model runs on stderr")
    parser.set_defaults(handler=_ask)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _ask(args: argparse.Namespace) -> int:
    settings = await load_fleet_settings(args)
    model = BedrockModelClient.from_settings(settings.model, model_id=args.model)
    mode = cast(Mode, args.mode)
    as_json: bool = args.json
    show_code: bool = args.show_code
    streamed = False
    open_line = False
    """Streamed text on stdout does not end with a newline yet."""

    async def on_text(text: str) -> None:
        nonlocal streamed, open_line
        streamed = True
        open_line = not text.endswith("\n")
        sys.stdout.write(text)
        sys.stdout.flush()

    def end_line() -> None:
        # The model's next reply starts on a line of its own.
        nonlocal open_line
        if open_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            open_line = False

    async def on_code(code: str) -> None:
        end_line()
        _err(f"[running a {len(code.splitlines())}-line program in the sandbox]")
        if show_code:
            _err(code.rstrip("\n"))

    async def on_tool_call(name: str) -> None:
        end_line()
        _err(f"[calling {name}]")

    async def on_result(text: str, is_error: bool) -> None:
        size = len(text.encode())
        _err(f"[{'error' if is_error else 'result'}: {size:,} bytes back to the model]")

    hooks = (
        Hooks() if as_json else Hooks(on_text=on_text, on_code=on_code, on_tool_call=on_tool_call, on_result=on_result)
    )
    if mode == "classic" and not model.profile.tool_use:
        raise ConfigError(
            f"classic mode needs native tool use and {model.model_id!r} is configured without it", key="model.tool_use"
        )
    failure: GatewayError | None = None
    result: RunResult | None = None
    async with open_gateway(settings) as gateway:
        try:
            await gateway.fleet.wait_ready(FLEET_READY_TIMEOUT_S)
        except TimeoutError:
            logger.warning(
                "some servers were still connecting after %.0f s; going on without them", FLEET_READY_TIMEOUT_S
            )
        try:
            traced = TracedModelClient(model, gateway.telemetry)
            with trace_agent(gateway.telemetry, model_id=model.model_id, mode=mode):
                result = await ask(gateway, args.question, model=traced, mode=mode, hooks=hooks)
        except GatewayError as e:
            # Re-raised outside the gateway's task groups, so the CLI reports it as one clear error.
            failure = e
        finally:
            await model.aclose()
    if failure is not None:
        raise failure
    assert result is not None

    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        if streamed:
            end_line()
        else:
            print(result.answer)
        _err("\n" + result.stats.summary())
    match result.stop:
        case "answered":
            return 0
        case "max_turns":
            _err(f"ptc-gateway: no answer after {result.stats.turns} model turns (raise [model] max_turns)")
        case "timeout":
            _err(f"ptc-gateway: no answer within {settings.model.run_timeout_s:g} s ([model] run_timeout_s)")
    return 1
