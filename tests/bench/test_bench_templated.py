"""Templated documents: the generator and its mutations, ``stepcache bench --templated`` and the report's
later instances of a template (scripted, fast)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from bench_cli import bench, parse

from stepcache_bench.metamorphic import wrapped_workload
from stepcache_bench.report import by_template
from stepcache_bench.runner import RequestRecord
from stepcache_bench.templated import LAYOUTS, layout_of, templated_mutations, templated_workload
from stepcache_bench.workload import JsonTruth, generate_workload


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]


# -- the generator ----------------------------------------------------------------------------------


def test_every_layouts_first_document_comes_first_and_the_others_point_at_it() -> None:
    items = templated_workload(5, per_layout=3)
    assert len(items) == 3 * len(LAYOUTS) and len(LAYOUTS) >= 8
    firsts = items[: len(LAYOUTS)]
    assert [i.id for i in firsts] == [f"tpl5-{name}-00" for name in LAYOUTS]
    assert all(i.perturbation == "base" and i.base_id is None for i in firsts)
    for item in items[len(LAYOUTS) :]:
        layout = layout_of(item)
        assert layout is not None and item.perturbation == f"template:{layout.name}"
        assert item.base_id == f"tpl5-{layout.name}-00"
    assert all((i.task, i.family, i.seed, i.semantic) == ("json", "json", 5, False) for i in items)
    assert all(isinstance(i.truth, JsonTruth) for i in items)


def test_one_layout_keeps_one_instruction_for_all_its_documents() -> None:
    items = templated_workload(8, layouts=["vendor_invoice", "bank_alert"], per_layout=4)
    for name in ("vendor_invoice", "bank_alert"):
        mine = [i for i in items if layout_of(i) is LAYOUTS[name]]
        documents = [LAYOUTS[name].document_of(i.request) for i in mine]
        assert len(mine) == 4 and len(set(documents)) == 4
        envelopes = {
            json.dumps(
                [[m["content"].replace(str(d), "<document>") for m in i.request.messages], i.request.response_format]
            )
            for i, d in zip(mine, documents)
        }
        assert len(envelopes) == 1, envelopes  # other documents, the same instruction and response format


def test_unknown_layouts_and_empty_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown layout.*choose from order_confirmation"):
        templated_workload(1, layouts=["parking_ticket"])
    with pytest.raises(ValueError, match="per_layout"):
        templated_workload(1, per_layout=0)


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_edit_of_a_layout_applies_to_most_of_its_documents(name: str) -> None:
    layout = LAYOUTS[name]
    assert layout.edits, name
    items = templated_workload(11, layouts=[name], per_layout=12)
    for edit in layout.edits:
        applied = 0
        for item in items:
            assert isinstance(item.truth, JsonTruth)
            document = layout.document_of(item.request)
            assert document is not None
            edited = edit.apply(document, dict(item.truth.expected), random.Random(0))
            if edited is not None:
                applied += 1
                assert edited[0] != document and set(edited[1]) == set(layout.keys)
        assert applied >= 6, f"{name}: {type(edit).__name__} applies to {applied} of 12 documents"


def test_mutations_cover_each_layouts_edits_and_leave_other_items_alone() -> None:
    documents = templated_workload(3, per_layout=3)
    mutations = templated_mutations(documents, random.Random(3))
    assert len(mutations) == sum(len(layout.edits) for layout in LAYOUTS.values())
    ids = {i.id for i in documents}
    for item in mutations:
        layout = layout_of(item)
        assert layout is not None and item.perturbation.startswith("mutate:")
        assert item.id.split("~")[0] in ids and item.base_id == f"tpl3-{layout.name}-00"
        assert item.id.split("~")[0] != item.base_id  # a later document where there is one
    assert (
        templated_mutations(generate_workload(3, bases_per_task=1, variants_per_perturbation=1), random.Random(3)) == []
    )
    assert templated_mutations(mutations, random.Random(3)) == []  # no mutations of mutations


def test_wrapping_a_templated_workload_keeps_its_documents_first() -> None:
    documents = templated_workload(4, layouts=["hotel_booking"], per_layout=2)
    wrapped = wrapped_workload(documents, random.Random(4), per_item=2)
    assert wrapped[:2] == documents and len(wrapped) > 2


# -- the bench option -------------------------------------------------------------------------------


def test_templated_scripted_bench_reports_the_later_instances_of_each_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = bench(
        [
            "--templated",
            "--quick",
            "--oracle",
            "0",
            "--systems",
            "nocache,stepcache",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "StepCache on later instances of a template: " in printed and "of no cache" in printed

    rows = _records(out)
    stepcache = [r for r in rows if r["system"] == "StepCache"]
    assert {r["perturbation"].split(":")[0] for r in rows} == {"base", "template", "mutate"}
    assert sum(r["perturbation"] == "base" for r in stepcache) == len(LAYOUTS)
    assert sum(r["perturbation"].startswith("template:") for r in stepcache) == 2 * len(LAYOUTS)  # --quick: 3 each
    assert all(r["ok"] for r in rows if r["system"] == "no cache")  # the oracle is always right

    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["templated"] is True and report["settings"]["size"].startswith("templated")
    templates = {t["layout"]: t for t in report["templates"]}
    assert set(templates) == {*LAYOUTS, "all"}
    everything = templates["all"]
    later = [r for r in stepcache if r["perturbation"].startswith("template:")]
    assert everything["documents"] == len(later) == sum(templates[n]["documents"] for n in LAYOUTS)
    assert everything["from_cache"] == sum(r["path"] in ("reuse", "patch") for r in later)
    assert everything["wrong_from_cache"] == sum(r["path"] in ("reuse", "patch") and r["ok"] is False for r in later)
    assert sum(everything["paths"].values()) == len(later)
    for system in ("no cache", "StepCache"):
        mine = [r for r in rows if r["system"] == system and r["perturbation"].startswith("template:")]
        assert everything["tokens"][system] == sum(r["prompt_tokens"] + r["completion_tokens"] for r in mine)
    assert everything["correct"]["no cache"] == 1.0
    assert {r["perturbation"] for r in report["rewrites"]} >= {"mutate:rename_label", "mutate:swap_values"}

    markdown = (out / "report.md").read_text()
    assert "## Later instances of a template" in markdown and "| **all** |" in markdown
    assert "| order_confirmation |" in markdown and "## By wrapper and mutation" in markdown


def test_templated_and_a_workload_file_are_refused_naming_both_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench(["--templated", "--workload", str(tmp_path / "w.jsonl"), "--oracle", "0"]) == 2
    error = capsys.readouterr().err
    assert "--templated" in error and "--workload" in error


def test_the_demo_has_no_templated_option() -> None:
    with pytest.raises(SystemExit):
        parse("demo", "--templated")


# -- the report, from records -----------------------------------------------------------------------


def _record(
    ident: str, system: str, perturbation: str, path: str | None, ok: bool | None, tokens: int
) -> RequestRecord:
    return RequestRecord(
        id=ident,
        system=system,
        task="json",
        perturbation=perturbation,
        semantic=False,
        latency_s=0.0,
        prompt_tokens=tokens,
        completion_tokens=0,
        path=path,
        correct=ok,
        integrity=True,
        ok=ok,
        reasons=[],
        text="",
    )


def test_later_instances_from_records() -> None:
    records = [
        _record("a0", "no cache", "base", None, True, 100),
        _record("a0", "StepCache", "base", "miss", True, 120),
        _record("a1", "no cache", "template:a", None, True, 100),
        _record("a1", "StepCache", "template:a", "reuse", True, 0),
        _record("a2", "no cache", "template:a", None, False, 100),
        _record("a2", "StepCache", "template:a", "patch", False, 40),
        _record("b1", "no cache", "template:b", None, True, 50),
        _record("b1", "StepCache", "template:b", "skip", True, 60),
        _record("m", "StepCache", "mutate:swap_values", "reuse", False, 0),
    ]
    rows = {t.layout: t for t in by_template(records, ["no cache", "StepCache"])}
    assert list(rows) == ["a", "b", "all"]
    a = rows["a"]
    assert (a.documents, a.from_cache, a.wrong_from_cache, a.paths) == (2, 2, 1, {"reuse": 1, "patch": 1})
    assert a.tokens == {"no cache": 200, "StepCache": 40} and a.correct == {"no cache": 0.5, "StepCache": 0.5}
    total = rows["all"]
    assert (total.documents, total.from_cache, total.tokens["StepCache"]) == (3, 2, 100)
    assert by_template([r for r in records if not r.perturbation.startswith("template:")], ["StepCache"]) == []


def test_a_run_without_templated_documents_renders_no_such_section(tmp_path: Path) -> None:
    out = tmp_path / "paper"
    assert (
        bench(
            [
                "--oracle",
                "0",
                "--seeds",
                "3",
                "--bases",
                "1",
                "--variants",
                "1",
                "--systems",
                "nocache,stepcache",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["templates"] == [] and report["settings"]["templated"] is False
    assert "Later instances" not in (out / "report.md").read_text()
