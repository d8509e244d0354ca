"""Each error knows what it means to a client: HTTP status, OpenAI error type and code, exit code."""

from __future__ import annotations

import pytest

from stepcache import (
    BackendError,
    ConfigurationError,
    InvalidRequest,
    MissingDependency,
    StepCacheError,
    StepCheck,
    StoreError,
    UnverifiableAnswer,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    Verification,
)
from stepcache.server._auth import RateLimited, Unauthorized


@pytest.mark.parametrize(
    ("error", "status", "kind", "code", "exit_code"),
    [
        (InvalidRequest("bad", param="messages"), 400, "invalid_request_error", "invalid_request", 2),
        (ConfigurationError("no model"), 500, "server_error", "configuration_error", 2),
        (MissingDependency("faiss-cpu", "faiss", "The index"), 500, "server_error", "configuration_error", 2),
        (StoreError("disk"), 500, "server_error", "store_error", 1),
        (BackendError("refused"), 502, "upstream_error", "upstream_unavailable", 3),
        (UpstreamTimeout("slow"), 504, "upstream_error", "upstream_timeout", 3),
        (UpstreamStatusError("busy", status_code=429), 429, "rate_limit_error", "upstream_rate_limited", 3),
        (UpstreamStatusError("no", status_code=422), 400, "invalid_request_error", "upstream_rejected", 3),
        (UpstreamStatusError("boom", status_code=503), 502, "upstream_error", "upstream_status", 3),
        (UpstreamProtocolError("html"), 502, "upstream_error", "upstream_bad_response", 3),
        (UnverifiableAnswer("wrong"), 502, "upstream_error", "unverifiable_answer", 4),
        (Unauthorized("who"), 401, "invalid_request_error", "invalid_api_key", 2),
        (RateLimited("slow down", retry_after=3), 429, "rate_limit_error", "tenant_rate_limited", 1),
        (StepCacheError("other"), 500, "server_error", "stepcache_error", 1),
    ],
)
def test_an_error_carries_its_status_type_code_and_exit_code(
    error: StepCacheError, status: int, kind: str, code: str, exit_code: int
) -> None:
    assert (error.http_status, error.error_type, error.error_code, error.exit_code) == (status, kind, code, exit_code)
    assert str(error) in error.client_message()


def test_an_unverifiable_answer_tells_the_client_what_failed() -> None:
    report = Verification((StepCheck(0, True), StepCheck(1, False, "3x = 16 does not hold")))
    message = UnverifiableAnswer("still wrong", report=report).client_message()
    assert message.startswith("still wrong") and report.summary() in message
