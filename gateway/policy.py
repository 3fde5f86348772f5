"""Per-tool policy as tool-source wrappers: which tools the model sees, and which calls need approval.

Both wrap any `BaseToolSource` (the fleet, or another wrapper) and are one themselves, so the
executor and the catalog never know a policy exists::

    source = FilteredToolSource.from_settings(fleet, settings)      # enabled_tools / disabled_tools
    source = ApprovalToolSource(source, policy=ApprovalPolicy.from_settings(settings), ask=ask)

Patterns are `fnmatch` patterns, matched case-sensitively (`*`, `?`, `[seq]`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias, assert_never

import anyio

from gateway.config import GatewaySettings
from gateway.errors import UnknownToolError
from gateway.tools import (
    BaseToolSource,
    CallOptions,
    JsonValue,
    TextContent,
    ToolRef,
    ToolResult,
    ToolSourceWrapper,
    ToolSpec,
)

__all__ = ["ApprovalPolicy", "ApprovalToolSource", "AskFn", "Decision", "FilteredToolSource"]

Decision: TypeAlias = Literal["allow", "ask", "deny"]

AskFn: TypeAlias = Callable[[ToolRef, ToolSpec, Mapping[str, JsonValue]], Awaitable[bool]]
"""Ask the user whether this call may go through: True to allow; False when declined or cancelled."""

_RESTRICTIVENESS: dict[Decision, int] = {"allow": 0, "ask": 1, "deny": 2}


# --- filtering ---------------------------------------------------------------------------------


class FilteredToolSource(ToolSourceWrapper):
    """Hides tools per server: `enabled` (when not None) lists what is shown, `disabled` what is not.

    A tool is visible when its server has no `enabled` list or one of its patterns matches, and no
    `disabled` pattern matches (`disabled` wins). Calls to hidden tools raise `UnknownToolError`,
    exactly as if the server did not have them.
    """

    def __init__(
        self,
        inner: BaseToolSource,
        *,
        enabled: Mapping[str, Sequence[str] | None],
        disabled: Mapping[str, Sequence[str]],
    ) -> None:
        super().__init__(inner)
        self._enabled = {server: tuple(patterns) for server, patterns in enabled.items() if patterns is not None}
        self._disabled = {server: tuple(patterns) for server, patterns in disabled.items() if patterns}

    @classmethod
    def from_settings(cls, inner: BaseToolSource, settings: GatewaySettings) -> FilteredToolSource:
        """Each server's `enabled_tools` / `disabled_tools`."""
        return cls(
            inner,
            enabled={name: server.enabled_tools for name, server in settings.servers.items()},
            disabled={name: server.disabled_tools for name, server in settings.servers.items()},
        )

    def visible(self, ref: ToolRef) -> bool:
        """Whether this tool is shown to the model and may be called."""
        if any(fnmatchcase(ref.name, pattern) for pattern in self._disabled.get(ref.server, ())):
            return False
        enabled = self._enabled.get(ref.server)
        return enabled is None or any(fnmatchcase(ref.name, pattern) for pattern in enabled)

    async def list_tools(self) -> Sequence[ToolSpec]:
        """The inner source's tools minus the hidden ones."""
        return [spec for spec in await self._inner.list_tools() if self.visible(spec.ref)]

    async def find_tool(self, ref: ToolRef) -> ToolSpec | None:
        """The inner source's spec, unless the tool is hidden."""
        return await self._inner.find_tool(ref) if self.visible(ref) else None

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Forward the call, unless the tool is hidden (`UnknownToolError`)."""
        if not self.visible(ref):
            raise UnknownToolError(
                f"tool {ref} is not available (hidden by the server's enabled_tools/disabled_tools)",
                server=ref.server,
            )
        return await self._inner.call_tool(ref, arguments, options=options)


# --- approval ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """Decides, per tool, whether a call is allowed, asks the user first, or is denied.

    Resolution order, first match wins:

    1. `tools`: `server/tool` keys (fnmatch patterns). An exact key beats a pattern; among
       matching patterns the longest wins, and on a tie the most restrictive (deny > ask > allow).
    2. the server's `require_approval` patterns → `ask`.
    3. tools annotated destructive (`destructiveHint: true` and not `readOnlyHint: true`) →
       `destructive`. Tools without annotations are not treated as destructive.
    4. `default`.
    """

    default: Decision = "allow"
    destructive: Decision = "ask"
    tools: Mapping[str, Decision] = field(default_factory=dict[str, Decision])
    require_approval: Mapping[str, Sequence[str]] = field(default_factory=dict[str, Sequence[str]])
    """Per server key, tool-name patterns that always ask."""

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ApprovalPolicy:
        """`[approval]` plus every server's `require_approval`."""
        return cls(
            default=settings.approval.default,
            destructive=settings.approval.destructive,
            tools=dict(settings.approval.tools),
            require_approval={
                name: tuple(server.require_approval)
                for name, server in settings.servers.items()
                if server.require_approval
            },
        )

    def decide(self, spec: ToolSpec) -> Decision:
        """`allow`, `ask` or `deny` for calls to this tool."""
        return self.explain(spec)[0]

    def explain(self, spec: ToolSpec) -> tuple[Decision, str]:
        """The decision and the setting it comes from, for messages (`approval.tools['x/*']`)."""
        ref = str(spec.ref)
        if ref in self.tools:
            return self.tools[ref], f"approval.tools[{ref!r}]"
        matches: list[tuple[str, Decision]] = [
            (pattern, decision) for pattern, decision in self.tools.items() if fnmatchcase(ref, pattern)
        ]
        if matches:
            pattern, decision = max(matches, key=lambda match: (len(match[0]), _RESTRICTIVENESS[match[1]]))
            return decision, f"approval.tools[{pattern!r}]"
        for pattern in self.require_approval.get(spec.server, ()):
            if fnmatchcase(spec.name, pattern):
                return "ask", f"servers.{spec.server}.require_approval ({pattern!r})"
        annotations = spec.annotations
        if annotations.destructive is True and annotations.read_only is not True:
            return self.destructive, "approval.destructive (the tool is annotated destructive)"
        return self.default, "approval.default"


class ApprovalToolSource(ToolSourceWrapper):
    """Applies an `ApprovalPolicy` to every call; lists tools unchanged.

    A refused call does not raise: it returns `ToolResult(is_error=True)` with a message saying why,
    which becomes `ToolError` in the model's code. Refused means: the policy says `deny`; or `ask`
    and the user declined; or `ask` and there is no way to ask (`ask=None`, e.g. a client without
    elicitation support) — an approval that cannot be obtained is never assumed.

    Questions are asked one at a time, even when the code calls tools concurrently. Every call that
    needs approval is asked about (arguments differ); a decline sticks for the rest of this
    wrapper's life — one execution in the gateway — so code retrying in a loop does not ask again.
    """

    def __init__(self, inner: BaseToolSource, *, policy: ApprovalPolicy, ask: AskFn | None) -> None:
        super().__init__(inner)
        self._policy = policy
        self._ask = ask
        self._ask_lock = anyio.Lock()
        self._declined: set[ToolRef] = set()
        self._decisions: dict[ToolRef, tuple[ToolSpec, Decision, str]] = {}
        """Per tool, the policy's answer for the spec it was computed from (recomputed when the spec changes)."""

    @property
    def policy(self) -> ApprovalPolicy:
        """The policy applied."""
        return self._policy

    async def call_tool(
        self, ref: ToolRef, arguments: Mapping[str, JsonValue], *, options: CallOptions | None = None
    ) -> ToolResult:
        """Decide, ask if needed, then forward the call or return a refusal as a tool error."""
        spec = await self._find(ref)
        cached = self._decisions.get(ref)
        if cached is not None and cached[0] is spec:
            decision, reason = cached[1], cached[2]
        else:
            decision, reason = self._policy.explain(spec)
            self._decisions[ref] = (spec, decision, reason)
        match decision:
            case "allow":
                pass
            case "deny":
                return _refusal(f"Call to {ref} was denied by the gateway's approval policy ({reason} = 'deny').")
            case "ask":
                if self._ask is None:
                    return _refusal(
                        f"Call to {ref} needs the user's approval ({reason}), but this client cannot be asked "
                        "(it does not support elicitation), so the call was not made."
                    )
                suspend = (options or {}).get("suspend")
                async with suspend() if suspend is not None else nullcontext():
                    approved = await self._approved(self._ask, spec, arguments)
                if not approved:
                    return _refusal(f"The user declined the call to {ref}; it was not made.")
            case _:
                assert_never(decision)
        return await self._inner.call_tool(ref, arguments, options=options)

    async def _approved(self, ask: AskFn, spec: ToolSpec, arguments: Mapping[str, JsonValue]) -> bool:
        async with self._ask_lock:
            if spec.ref in self._declined:
                return False
            if await ask(spec.ref, spec, arguments):
                return True
            self._declined.add(spec.ref)
            return False

    async def _find(self, ref: ToolRef) -> ToolSpec:
        spec = await self._inner.find_tool(ref)
        # Not (or no longer) listed: decide on what we know, so a stale catalog never skips a check.
        return spec if spec is not None else ToolSpec(server=ref.server, name=ref.name)


def _refusal(message: str) -> ToolResult:
    return ToolResult(is_error=True, content=(TextContent(text=message),))
