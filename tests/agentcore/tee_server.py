"""A stdio MCP server wrapper for tests: runs the real server and records every `tools/call` it receives.

Usage: ``python tee_server.py LOG_FILE -- COMMAND ARGS...``. Bytes pass through unchanged both ways;
each JSON-RPC line from the client whose method is `tools/call` is appended to LOG_FILE (the tool
name, one per line). It proves that a call reached the upstream server, not that the gateway said so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading


def main() -> int:
    log_path, separator, *command = sys.argv[1:]
    assert separator == "--"
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=sys.stdout.buffer)
    assert server.stdin is not None
    upstream = server.stdin

    def forward() -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            for line in sys.stdin.buffer:
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if isinstance(message, dict) and message.get("method") == "tools/call":
                    log.write(str(message.get("params", {}).get("name")) + "\n")
                    log.flush()
                upstream.write(line)
                upstream.flush()
        upstream.close()

    threading.Thread(target=forward, daemon=True).start()
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
