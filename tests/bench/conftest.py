"""The bench's tests borrow the proxy's server harness and the store's PostgreSQL helpers (tests/server,
tests/store); tests/ has no packages, so their directories go on ``sys.path`` here."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for _helpers in (_TESTS / "server", _TESTS / "store"):
    if str(_helpers) not in sys.path:
        sys.path.append(str(_helpers))
