"""The templated-documents corpus (tests/data/templated.jsonl) is well-formed, its truths are exact, and the
generator behind it is deterministic and draws new values for every seed.

Only the file and the generator are checked here. How StepCache does on the corpus is measured with
``stepcache bench --workload tests/data/templated.jsonl --oracle 0`` (or ``--templated``), not here.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stepcache_bench.checker import check
from stepcache_bench.oracle import Oracle
from stepcache_bench.templated import LAYOUTS, MUTATION_NAMES, layout_of, templated_mutations, templated_workload
from stepcache_bench.workload import JsonTruth, WorkloadItem, load_workload

CORPUS = Path(__file__).resolve().parents[1] / "data" / "templated.jsonl"
SEED = 2025  # scripts/templated_corpus.py
ITEMS = load_workload(CORPUS)
BY_ID = {item.id: item for item in ITEMS}
REGENERATE = "the corpus is not what the generator makes: run .venv/bin/python scripts/templated_corpus.py"


def _layout(item: WorkloadItem) -> str:
    layout = layout_of(item)
    assert layout is not None, f"{item.id}: not the request of any layout (instruction or response format differs)"
    return layout.name


def _document(item: WorkloadItem) -> str:
    document = LAYOUTS[_layout(item)].document_of(item.request)
    assert document is not None
    return document


def _truth(item: WorkloadItem) -> JsonTruth:
    assert isinstance(item.truth, JsonTruth), item.id
    return item.truth


# -- composition ------------------------------------------------------------------------------------


def test_size_and_composition() -> None:
    raw = [json.loads(line)["id"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw) == len(set(raw)) == len(ITEMS)
    documents = [i for i in ITEMS if not i.perturbation.startswith("mutate:")]
    per_layout = Counter(_layout(i) for i in documents if i.id.startswith("tpl"))
    assert len(per_layout) >= 8 and min(per_layout.values()) >= 10
    hand = [i for i in documents if i.id.startswith("hand-")]
    assert len(hand) >= 15
    assert len({_layout(i) for i in hand}) >= 8
    mutations = Counter(i.perturbation for i in ITEMS if i.perturbation.startswith("mutate:"))
    assert set(mutations) == {f"mutate:{name}" for name in MUTATION_NAMES}
    formats = Counter((i.request.response_format or {}).get("type") for i in documents)
    assert formats[None] and formats["json_object"] and formats["json_schema"]


def test_every_item_is_its_layouts_request_with_its_keys() -> None:
    for item in ITEMS:
        layout = LAYOUTS[_layout(item)]
        truth = _truth(item)
        assert (item.task, item.family) == ("json", "json"), item.id
        assert truth.required_keys == layout.keys and set(truth.expected) == set(layout.keys), item.id
        assert truth.additional_keys == layout.additional_keys, item.id
        if item.perturbation.startswith("template:"):
            assert item.perturbation == f"template:{layout.name}", item.id


def test_groups_point_at_their_layouts_first_document_which_comes_first() -> None:
    position = {item.id: n for n, item in enumerate(ITEMS)}
    for item in ITEMS:
        if item.perturbation == "base":
            assert item.base_id is None and not item.semantic, item.id
            continue
        assert item.base_id in BY_ID, item.id
        base = BY_ID[item.base_id]
        assert base.perturbation == "base" and _layout(base) == _layout(item), item.id
        assert position[base.id] < position[item.id], item.id


def test_documents_of_a_layout_are_all_different() -> None:
    documents = [_document(i) for i in ITEMS]
    assert len(set(documents)) == len(documents)


# -- truths are in the document ---------------------------------------------------------------------

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _date_forms(value: date) -> list[str]:
    month = _MONTHS[value.month - 1]
    d, m, y = value.day, value.month, value.year
    return [
        value.isoformat(),
        f"{month} {d}, {y}",
        f"{month[:3]} {d}, {y}",
        f"{d} {month} {y}",
        f"{d} {month[:3]} {y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{m:02d}/{d:02d}/{y % 100:02d}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}{month[:3].upper()}{y}",
    ]


def _time_forms(hour: int, minute: int) -> list[str]:
    h12, half = hour % 12 or 12, "am" if hour < 12 else "pm"
    forms = [f"{hour:02d}:{minute:02d}", f"{h12}:{minute:02d} {half}", f"{h12}:{minute:02d}{half}"]
    return forms + ([f"{h12}{half}", f"{h12} {half}"] if minute == 0 else [])


def _number_forms(value: int | float) -> list[str]:
    exact = Decimal(str(value))
    us = f"{exact:,.2f}"
    forms = [us, us.replace(",", "_").replace(".", ",").replace("_", "."), f"{exact:.2f}"]
    if exact == exact.to_integral_value():
        forms += [f"{int(exact):,}", str(int(exact))]
    return forms


def _forms(value: Any) -> list[str]:
    """How a JSON value may be written in a document: itself, or a normalisation the instructions ask for
    (a YYYY-MM-DD date written in the sender's style, an HH:MM time written with am/pm, a number written
    with thousands separators or a decimal comma)."""
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return _date_forms(date.fromisoformat(value))
        if re.fullmatch(r"\d{2}:\d{2}", value):
            return _time_forms(int(value[:2]), int(value[3:]))
        return [value]
    return _number_forms(value)


def _written(form: str, document: str) -> bool:
    text = " ".join(document.casefold().split())
    needle = " ".join(form.casefold().split())
    if re.fullmatch(r"[\d.,]+", needle):  # a number: not the middle of another number
        return re.search(rf"(?<![\d.,]){re.escape(needle)}(?![\d]|[.,]\d)", text) is not None
    return needle in text


@pytest.mark.parametrize("item_id", [i.id for i in ITEMS])
def test_every_expected_value_is_written_in_the_document(item_id: str) -> None:
    item = BY_ID[item_id]
    document = _document(item)
    for key, value in _truth(item).expected.items():
        if value is None or isinstance(value, bool):
            continue  # null: the document does not give it; booleans are said in words ("Gift wrap: Yes")
        for element in value if isinstance(value, list) else [value]:
            assert any(_written(form, document) for form in _forms(element)), (
                f"{item_id}: {key} = {element!r} is written nowhere in the document"
            )


def test_an_always_right_model_answers_every_item_right() -> None:
    oracle = Oracle(ITEMS, error_rate=0.0)
    for item in ITEMS:
        request = item.request.backend_request("m")
        assert oracle.item_for(request).id == item.id
        verdict = check(item, oracle(request))
        assert verdict.ok, (item.id, verdict.reasons)


# -- mutations --------------------------------------------------------------------------------------


def _source(item: WorkloadItem) -> WorkloadItem:
    return BY_ID[item.id.split("~")[0]]


@pytest.mark.parametrize("item_id", [i.id for i in ITEMS if i.perturbation.startswith("mutate:")])
def test_a_mutation_changes_the_document_and_its_truth_follows(item_id: str) -> None:
    item = BY_ID[item_id]
    source = _source(item)
    assert _layout(source) == _layout(item)
    assert _document(item) != _document(source)
    before, after = _truth(source).expected, _truth(item).expected
    changed = {k for k in before if before[k] != after[k]}
    kind = item.perturbation.removeprefix("mutate:")
    if kind == "remove_field":
        assert item.semantic and changed and all(after[k] is None for k in changed), item_id
        assert len(_document(item).splitlines()) < len(_document(source).splitlines())
    elif kind == "swap_values":
        assert not item.semantic and changed, item_id
        assert sorted(_document(item)) == sorted(_document(source))  # the same characters, moved
    else:  # the requested information is all still there, under other labels or in other places
        assert not item.semantic and not changed, item_id
        if kind == "move_field":
            assert sorted(_document(item).splitlines()) == sorted(_document(source).splitlines())


# -- the generator behind the file ------------------------------------------------------------------


def test_the_file_is_what_the_generator_makes() -> None:
    hand = [i for i in ITEMS if i.id.startswith("hand-") and not i.perturbation.startswith("mutate:")]
    documents = templated_workload(SEED, per_layout=10)
    expected = documents + hand + templated_mutations(documents + hand, random.Random(SEED))
    assert [i.id for i in expected] == [i.id for i in ITEMS], REGENERATE
    assert expected == ITEMS, REGENERATE


def test_the_generator_is_deterministic_and_draws_new_values_for_another_seed() -> None:
    first, again = templated_workload(1, per_layout=4), templated_workload(1, per_layout=4)
    other = templated_workload(2, per_layout=4)
    assert first == again
    assert [_layout(i) for i in first[: len(LAYOUTS)]] == [_layout(i) for i in other[: len(LAYOUTS)]] == list(LAYOUTS)
    assert Counter(map(_layout, first)) == Counter(map(_layout, other))
    for name in LAYOUTS:
        mine = [json.dumps(_truth(i).expected, sort_keys=True) for i in first if _layout(i) == name]
        theirs = [json.dumps(_truth(i).expected, sort_keys=True) for i in other if _layout(i) == name]
        assert len(set(mine)) == 4 and not set(mine) & set(theirs), name
    assert templated_mutations(first, random.Random(3)) == templated_mutations(again, random.Random(3))
