"""A MAF chat client that replays a fixed script of model turns: no network, no model (extra `[maf]`);
the demo (``demo --framework maf``) and the tests script their agents with it.

Each call to the model pops the next turn. A turn is a tool call
``("call", call_id, tool_name, arguments)``, several calls in one answer
``("calls", [(call_id, tool_name, arguments), ...])``, a text answer ``("text", "...")``, or
``("echo", "prefix")``: the prefix and what the model was last told (the newest tool result or
message text), so a test sees what reached the model, even in another process.
Every list of messages the "model" received is kept in ``seen`` so a snippet can
show exactly what the model was told (e.g. the "pending" tool result, then the
real result).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_framework import (
    BaseChatClient,
    ChatMiddlewareLayer,
    ChatResponse,
    Content,
    FunctionInvocationLayer,
    Message,
)

Turn = tuple[Any, ...]


class ScriptedChatClient(FunctionInvocationLayer, ChatMiddlewareLayer, BaseChatClient):
    """Replays ``script`` one turn per model call (non-streaming only)."""

    def __init__(self, script: Sequence[Turn], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = list(script)
        self.seen: list[list[Message]] = []

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any, **kwargs: Any):
        if stream:
            raise NotImplementedError("the scripted client answers non-streaming calls only")
        self.seen.append(list(messages))
        if not self.script:
            raise AssertionError("the model was called more often than scripted")
        turn = self.script.pop(0)

        async def answer() -> ChatResponse:
            if turn[0] == "call":
                calls = [turn[1:]]
            elif turn[0] == "calls":
                calls = turn[1]
            elif turn[0] == "echo":
                text = turn[1] + last_told(messages)
                return ChatResponse(messages=[Message(role="assistant", contents=[Content.from_text(text)])])
            else:
                return ChatResponse(
                    messages=[Message(role="assistant", contents=[Content.from_text(turn[1])])]
                )
            contents = [Content.from_function_call(call_id=c, name=n, arguments=a) for c, n, a in calls]
            return ChatResponse(messages=[Message(role="assistant", contents=contents)])

        return answer()


def last_told(messages: Sequence[Message]) -> str:
    """The newest tool result or text the model received."""
    for message in reversed(messages):
        for content in reversed(message.contents):
            if content.type == "function_result":
                return str(content.result)
            if content.type == "text" and message.role != "assistant":
                return content.text
    return ""


def describe(messages: Sequence[Message]) -> list[str]:
    """One short line per message content, to print what the model saw."""
    lines = []
    for message in messages:
        for content in message.contents:
            if content.type == "function_call":
                lines.append(f"{message.role}: call {content.name}({content.arguments}) id={content.call_id}")
            elif content.type == "function_result":
                lines.append(f"{message.role}: result id={content.call_id}: {content.result!r}")
            else:
                lines.append(f"{message.role}: {content.type} {getattr(content, 'text', '')!r}")
    return lines
