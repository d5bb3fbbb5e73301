"""The test MCP server (stdio, or streamable HTTP with ``--http``): the demo's ledger server,
``connector/demo/mcp_server.py``, run as a script from the tests."""

import sys

from connector.demo.mcp_server import main

if __name__ == "__main__":
    sys.exit(main())
