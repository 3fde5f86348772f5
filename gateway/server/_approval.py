"""Asking the user to approve a tool call, through MCP elicitation (form mode).

One `ElicitationApprover` per `tools/call`: the model's code may run many calls, some of them
concurrently; questions are asked one at a time, and the user may approve a tool for the rest of
this execution so a loop over a destructive tool does not ask thirty times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final

import anyio
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from gateway.tools import JsonValue, ToolRef, ToolSpec

__all__ = ["ElicitationApprover", "can_elicit"]

logger = logging.getLogger(__name__)

ARGUMENTS_PREVIEW_CHARS: Final = 1500

REQUESTED_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Allow this call",
            "description": "Let the call go through.",
            "default": True,
        },
        "remember": {
            "type": "boolean",
            "title": "Allow further calls to this tool in this run",
            "default": False,
        },
    },
}


def can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client can be asked: it declared form elicitation and has a back-channel."""
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return False
    elicitation = capabilities.elicitation
    # An empty `elicitation: {}` means form mode (backwards compatibility in the spec).
    form = elicitation.form is not None or elicitation.url is None
    return form and ctx.session.can_send_request


class ElicitationApprover:
    """Asks the client's user about one tool call at a time, for one execution."""

    def __init__(self, ctx: ServerRequestContext[Any, Any], *, timeout_s: float) -> None:
        """`timeout_s` ([approval] timeout_s) bounds each question; the execution's clocks stand still meanwhile."""
        self._ctx = ctx
        self._timeout_s = timeout_s
        self._lock = anyio.Lock()
        self._remembered: set[ToolRef] = set()

    async def ask(self, ref: ToolRef, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
        """True when the user approved the call; declining, cancelling or not answering refuses it (`AskFn`)."""
        async with self._lock:
            if ref in self._remembered:
                return True
            preview = json.dumps(dict(arguments), ensure_ascii=False, default=str)
            # The code's word: a lone surrogate (which a forged call frame can carry) is shown escaped,
            # or the SDK could not encode the question and its writer would end the client's session.
            preview = preview.encode("utf-8", "backslashreplace").decode("utf-8")
            if len(preview) > ARGUMENTS_PREVIEW_CHARS:
                preview = preview[:ARGUMENTS_PREVIEW_CHARS] + "…"
            why = " (a tool marked destructive)" if spec.annotations.destructive else ""
            message = f"The code wants to call {ref}{why} with arguments:\n{preview}\n\nAllow it?"
            try:
                with anyio.fail_after(self._timeout_s):
                    result = await self._ctx.session.elicit_form(
                        message=message,
                        requested_schema=REQUESTED_SCHEMA,
                        related_request_id=self._ctx.request_id,
                    )
            except TimeoutError:
                logger.warning("approval for %s got no answer within %.0f s; refused", ref, self._timeout_s)
                return False
            except MCPError as e:  # includes NoBackChannelError
                logger.warning("could not ask for approval of %s (%s); refused", ref, e)
                return False
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                logger.warning("the client went away while asked about %s; refused", ref)
                return False
            except ValidationError as e:
                # A malformed answer is no approval; it must not fail the execution either.
                logger.warning("unreadable approval answer for %s (%s); refused", ref, e.errors()[:1])
                return False
            if result.action != "accept":
                return False
            content = result.content or {}
            if content.get("approve", True) is False:
                return False
            if content.get("remember") is True:
                self._remembered.add(ref)
            return True
