"""The self-hosted PTC loop for any Bedrock model, and classic mode as its A/B baseline.

PTC: the fleet's stubs in the system prompt, one `execute_code(code)` tool (or fenced ```python
blocks for models without tool use), a fresh sandbox per program, until the model answers.
Classic: every fleet tool offered to the model directly, called one by one. Both report
`RunStats` (turns, tokens, tool calls, context bytes, wall time).
"""

from gateway.orchestrator._accounting import Mode, RunResult, RunStats, Stop
from gateway.orchestrator._ask import ask
from gateway.orchestrator._classic import CLASSIC_SYSTEM_PROMPT, ClassicToolset, result_text, run_classic
from gateway.orchestrator._loop import Hooks
from gateway.orchestrator._ptc import EXECUTE_CODE_DEFINITION, ExecuteFn, run_ptc
from gateway.orchestrator._system_prompt import EXECUTE_CODE_TOOL, build_system_prompt, extract_code, format_execution

__all__ = [
    "CLASSIC_SYSTEM_PROMPT",
    "EXECUTE_CODE_DEFINITION",
    "EXECUTE_CODE_TOOL",
    "ClassicToolset",
    "ExecuteFn",
    "Hooks",
    "Mode",
    "RunResult",
    "RunStats",
    "Stop",
    "ask",
    "build_system_prompt",
    "extract_code",
    "format_execution",
    "result_text",
    "run_classic",
    "run_ptc",
]
