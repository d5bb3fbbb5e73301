"""The snippets' scripted MAF chat client: the one the tests use, ``tests/agents/maf_scripted_client.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "agents"))

from maf_scripted_client import ScriptedChatClient, describe  # noqa: E402

__all__ = ["ScriptedChatClient", "describe"]
