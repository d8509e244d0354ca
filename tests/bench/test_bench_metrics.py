"""The measures on hand-made records: stale reuse, over-skip, wrong hits, hit rate, targets."""

from __future__ import annotations

from typing import Any

import pytest

from stepcache_bench.report import build_report
from stepcache_bench.runner import RequestRecord, over_skipped, percentile, summarise


def rec(id: str, system: str = "StepCache", **kw: Any) -> RequestRecord:
    fields: dict[str, Any] = dict(
        id=id,
        system=system,
        seed=1,
        task="linear",
        perturbation="base",
        base_id=None,
        semantic=False,
        latency_s=1.0,
        prompt_tokens=10,
        completion_tokens=10,
        path=None,
        hit=None,
        stored=None,
        correct=True,
        integrity=True,
        ok=True,
        reasons=[],
        text="x",
    )
    fields.update(kw)
    if "ok" not in kw and fields["correct"] is not None:
        fields["ok"] = fields["correct"] and fields["integrity"]
    return RequestRecord(**fields)


def stepcache_records() -> list[RequestRecord]:
    return [
        rec("b1", path="miss", hit=False, stored=True),
        rec("b2", path="miss", hit=False, stored=False, correct=False),  # the base's answer was never cached
        rec(
            "b1-c",
            perturbation="constants",
            base_id="b1",
            path="reuse",
            hit=True,
            latency_s=0.001,
            prompt_tokens=0,
            completion_tokens=0,
        ),
        rec("b1-r", perturbation="rename", base_id="b1", path="skip", hit=False, stored=True),  # over-skip
        rec("b1-p", perturbation="paraphrase", base_id="b1", path="miss", hit=False, stored=True),  # over-skip
        rec("b2-c", perturbation="constants", base_id="b2", path="miss", hit=False),  # base not cached: fine
        rec(
            "b1-s", perturbation="semantic", base_id="b1", semantic=True, path="reuse", hit=True, correct=False
        ),  # stale reuse
        rec("b1-s2", perturbation="semantic", base_id="b1", semantic=True, path="skip", hit=False),
        rec("b1-f", perturbation="format", base_id="b1", path="patch", hit=True, integrity=False),  # wrong hit
    ]


def test_over_skip_counts_fresh_non_semantic_variants_of_cached_bases_only() -> None:
    assert sorted(r.id for r in over_skipped(stepcache_records())) == ["b1-p", "b1-r"]


def test_over_skip_matches_bases_within_the_same_seed() -> None:
    records = [
        rec("b1", seed=1, path="miss", hit=False, stored=True),
        rec("v", seed=2, perturbation="constants", base_id="b1", path="miss", hit=False),
    ]
    assert over_skipped(records) == []


def test_summary_measures() -> None:
    s = summarise("StepCache", stepcache_records())
    assert s.requests == 9
    assert s.hits == 3 and s.hit_rate == pytest.approx(3 / 9)
    assert s.wrong_hits == 2 and s.wrong_hit_rate == pytest.approx(2 / 3)  # the stale reuse and the broken patch
    assert s.stale_reuse == 1
    assert s.over_skip == 2
    assert s.paths == {"reuse": 2, "patch": 1, "skip": 2, "miss": 4}
    assert s.correct_nonsemantic == pytest.approx(5 / 7)  # b2 wrong, b1-f not intact
    assert s.correct_all == pytest.approx(6 / 9)
    assert s.tokens_total == 8 * 20
    assert s.patch_p95_s == 1.0 and s.fresh_p95_s == 1.0


def test_caches_without_paths_have_hit_rates_but_no_over_skip() -> None:
    records = [
        rec("b1", system="GPTCache", hit=False),
        rec("b1-s", system="GPTCache", perturbation="semantic", base_id="b1", semantic=True, hit=True, correct=False),
        rec("b1-c", system="GPTCache", perturbation="constants", base_id="b1", hit=True, correct=False),
    ]
    s = summarise("GPTCache", records)
    assert (s.hits, s.wrong_hits, s.stale_reuse, s.over_skip) == (2, 2, 1, 0)
    assert s.wrong_hit_rate == 1.0 and s.paths == {}
    bare = summarise("no cache", [rec("b1", system="no cache")])
    assert bare.hit_rate is None and bare.wrong_hit_rate is None


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_targets_are_judged_from_the_records() -> None:
    stepcache = stepcache_records()
    bare = [
        rec(
            r.id,
            system="no cache",
            perturbation=r.perturbation,
            base_id=r.base_id,
            semantic=r.semantic,
            latency_s=2.0,
            prompt_tokens=20,
            completion_tokens=30,
        )
        for r in stepcache
    ]
    report = build_report(stepcache + bare, ["no cache", "StepCache"], {"backend": "test"})
    targets = {t.name: t for t in report.targets}
    assert targets["stale reuse"].met is False and "b1-s" in targets["stale reuse"].why
    assert targets["over-skip"].met is False and "linear/rename 1" in targets["over-skip"].why
    assert targets["correct on every non-semantic request"].met is False
    # b2 is wrong for StepCache but the bare model answered it correctly
    assert targets["correct on every request the model answers correctly"].met is False
    assert "b2" in targets["correct on every request the model answers correctly"].why
    latency = targets["mean latency vs no cache"]
    assert latency.met is False and "called the model" in latency.why
    assert targets["upstream tokens vs no cache"].met is False  # 160 of 450 tokens is 36 %
    assert targets["p95 latency never worse than no cache"].met is True
    assert targets["median latency"].met is False
    headline = report.system("StepCache")
    assert headline.stale_reuse == 1 and headline.seeds == 1
