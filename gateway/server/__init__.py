"""The gateway as an MCP server exposing one tool (`execute_code`), over stdio or streamable HTTP."""

from gateway.server._clients import Clients
from gateway.server._http import HEALTH_PATH, create_http_app, serve_asgi, serve_http, transport_security
from gateway.server._server import GatewayServer
from gateway.server._serving import open_server, serve_stdio
from gateway.server._tool import INPUT_SCHEMA, OUTPUT_SCHEMA

__all__ = [
    "HEALTH_PATH",
    "INPUT_SCHEMA",
    "OUTPUT_SCHEMA",
    "Clients",
    "GatewayServer",
    "create_http_app",
    "open_server",
    "serve_asgi",
    "serve_http",
    "serve_stdio",
    "transport_security",
]
