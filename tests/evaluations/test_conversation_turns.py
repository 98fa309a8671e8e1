"""Which messages make a trace's turn on the session page (`templatetags.conversation.turn_messages`)."""

import pytest

from evaluations.templatetags.conversation import turn_messages

HISTORY = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "q2"},
    {"role": "user", "content": "q2, again"},
]
AGENT_LOOP = [
    {"role": "user", "content": "q"},
    {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "content": "result"},
]


def contents(messages: list[dict]) -> list:
    return [(m["role"], m["content"]) for m in messages]


@pytest.mark.parametrize(
    ("value", "role", "expected"),
    [
        ({"messages": HISTORY}, "user", [("user", "q2"), ("user", "q2, again")]),  # after the last answer
        (HISTORY, "user", [("user", "q2"), ("user", "q2, again")]),  # a bare list of messages
        (AGENT_LOOP, "user", [("user", "q")]),  # no user after the answer: the last user message
        (AGENT_LOOP, "assistant", [("assistant", None), ("tool", "result")]),  # answers after the question
        ({"role": "assistant", "content": "one"}, "assistant", [("assistant", "one")]),  # one message
        ("plain words", "user", [("user", "plain words")]),
        ({"answer": 42, "ok": True}, "assistant", [("assistant", '{"answer":42,"ok":true}')]),
        ([{"role": "system", "content": "only"}], "user", []),
        (None, "user", []),
        ("", "assistant", []),
    ],
)
def test_turn_messages(value, role, expected):
    assert contents(turn_messages(value, role)) == expected
