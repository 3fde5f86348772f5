"""The self-hosted PTC loop for any Bedrock model, and classic mode as its A/B baseline.

PTC: the fleet's stubs in the system prompt, one `execute_code(code)` tool (or fenced ```python
blocks for models without tool use), a fresh sandbox per program, until the model answers.
Classic: every fleet tool offered to the model directly, called one by one. Both report
`RunStats` (turns, tokens, tool calls, context bytes, wall time).
"""

from gateway.orchestrator._accounting import Mode, RunResult, RunStats, Stop
from gateway.orchestrator._ask import ask
from gateway.orchestrator._classic import run_classic
from gateway.orchestrator._loop import Hooks
from gateway.orchestrator._ptc import EXECUTE_CODE_DEFINITION, ExecuteFn, run_ptc
from gateway.orchestrator._system_prompt import build_system_prompt, cap_text

# What other packages use: the CLI runs `ask`; the proxy shows the model the same rules and tool
# (`build_system_prompt`, `EXECUTE_CODE_DEFINITION`, `cap_text`); library users drive the loops.
__all__ = [
    "EXECUTE_CODE_DEFINITION",
    "ExecuteFn",
    "Hooks",
    "Mode",
    "RunResult",
    "RunStats",
    "Stop",
    "ask",
    "build_system_prompt",
    "cap_text",
    "run_classic",
    "run_ptc",
]
