"""The public API is exactly ``stepcache.__all__``; everything else is private."""

import pytest

import stepcache


def test_all_names_exist() -> None:
    for name in stepcache.__all__:
        assert hasattr(stepcache, name), name


def test_public_members_are_exported() -> None:
    public = {
        name
        for name, value in vars(stepcache).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("stepcache")
    }
    assert public <= set(stepcache.__all__), sorted(public - set(stepcache.__all__))


PINNED = """
AnswerStream AuditOutcome Backend BackendError BackendRequest CacheConfig ChatRequest Completion ConfigurationError Embedder Entry
FORMAT_VERSION Family HashedNgramEmbedder InvalidRequest LlamaCppBackend MemoryStore Message MissingDependency
OpenAIHTTPBackend Result Route SQLiteStore Scope ScriptedBackend StepCache StepCacheError StepCheck StepCounts
Store StoreError StoreStats StoreVersionError Task TokenUsage UnverifiableAnswer UpstreamProtocolError
UpstreamStatusError UpstreamTimeout Verification __version__ open_store
""".split()


def test_public_api_is_pinned() -> None:
    # Adding or removing a public name is an API change: update this list on purpose.
    assert sorted(stepcache.__all__) == sorted(PINNED)


def test_the_old_name_of_route_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="stepcache.Route"):
        old = stepcache.Path
    assert old is stepcache.Route
    with pytest.raises(AttributeError):
        stepcache.NoSuchName  # noqa: B018
