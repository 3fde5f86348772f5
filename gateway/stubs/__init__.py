"""Stub renderer: the catalog as typed async Python, as the model and the sandbox see it.

- `render_module(catalog)`: the importable stub module (the runner execs it).
- `render_prompt(catalog, settings=..., limits=...)`: the exact text the model sees.
- `render_preamble(limits=...)`: the rules part of that text, for other entry points.
- `build_toolbox(tools, settings=...)`: the `Toolbox` record an execution and the prompt are built from.
- `catalog_json`, `json_definition_bytes`, `job_namespaces`: the catalog in other shapes.
"""

from gateway.stubs._export import catalog_json, job_namespaces, json_definition_bytes
from gateway.stubs._module import MODULE_HEADER, RenderedStubs, render_module, render_stubs
from gateway.stubs._prompt import RenderedPrompt, render_index, render_preamble, render_prompt
from gateway.stubs._toolbox import Toolbox, build_toolbox

__all__ = [
    "MODULE_HEADER",
    "RenderedPrompt",
    "RenderedStubs",
    "Toolbox",
    "build_toolbox",
    "catalog_json",
    "job_namespaces",
    "json_definition_bytes",
    "render_index",
    "render_module",
    "render_preamble",
    "render_prompt",
    "render_stubs",
]
