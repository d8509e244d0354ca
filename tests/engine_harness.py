"""Requests and scripted answers shared by the engine tests (test_engine*.py).

The module name is unique on purpose: tests/ has no packages, so it is imported by its bare name.
"""

from __future__ import annotations

from typing import Any

LINEAR_ANSWER = "1. 3x + 5 = 20\n2. 3x = 20 - 5\n3. 3x = 15\n4. x = 15/3\n5. x = 5"
PERSON = "Return a JSON object for the person Alice, age 34, who lives in Paris. Required keys: name, age, city."


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}
