"""The Anthropic-SDK-compatible proxy: the Messages API over Bedrock, with programmatic tool calling.

`open_proxy(gateway)` yields the ASGI app (and the store of paused executions); `serve_proxy`
runs it under uvicorn. See docs/proxy.md.

Modules: `_app` (routes, auth, errors, SSE), `_service` (one Messages request: pass-through or the
PTC loop), `_ptc` (the two views of a PTC conversation), `_executions` (executions that pause on
client tools, and their store), `_handles` (signed `container.id`), `_modelmap`, `_wire`, `_errors`.
"""

from gateway.proxy._app import ProxyApp, open_proxy
from gateway.proxy._errors import ApiError, from_model_error
from gateway.proxy._handles import ContainerHandle, HandleCodec
from gateway.proxy._modelmap import ModelMap, ResolvedModel
from gateway.proxy._ptc import ModelView, model_view
from gateway.proxy._serve import serve_proxy
from gateway.proxy._wire import CODE_EXECUTION_TYPES, bedrock_body, beta_flags, message_events

__all__ = [
    "CODE_EXECUTION_TYPES",
    "ApiError",
    "ContainerHandle",
    "HandleCodec",
    "ModelMap",
    "ModelView",
    "ProxyApp",
    "ResolvedModel",
    "bedrock_body",
    "beta_flags",
    "from_model_error",
    "message_events",
    "model_view",
    "open_proxy",
    "serve_proxy",
]
