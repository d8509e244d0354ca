"""Grounding: every served value is checked against the request text it claims to come from.

A conflict (evidence against the value) fails its step as a doubt; unknown (computed, invented,
free text) never fails. A correct answer must never be rejected: the realistic records below and the
two hand-written corpora in tests/data are answered correctly, and every answer must verify.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache._types import ChatRequest
from stepcache.families import Task
from stepcache.families.json_family import JsonFamily
from stepcache.families.json_family._ground import CONFLICT, GROUNDED, UNKNOWN, Grounder
from stepcache.families.json_family._keys import KeyNames
from stepcache_bench.workload import JsonTruth, load_workload

family = JsonFamily()
DATA = Path(__file__).parents[1] / "data"


def task_of(prompt: str, response_format: dict[str, Any] | None = None, system: str = "") -> Task:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    task = family.detect(ChatRequest.model_validate({"messages": messages, "response_format": response_format}))
    assert task is not None, prompt
    return task


def verify(task: Task, answer: dict[str, Any]) -> Any:
    return family.verify(task, family.segment(task, json.dumps(answer)))


# -- each class of conflict ---------------------------------------------------------------------------

EVENT = (
    "Extract the event as JSON with keys title, date, start_time, contact_email. Book club meets on "
    "April 20, 2024 at 18:30. Contact: elena@example.org."
)
PERSON = (
    "Return JSON with keys name, age, email. Maria Lopez, 34, lives in Seville; reach her at maria.lopez@example.org."
)
PRODUCT = "Return JSON with keys sku, price. Product: Desk Lamp, SKU-4821, in stock, 19.99 EUR."

# (prompt, answer, the key that must fail, words its reason must contain)
CONFLICTS = [
    pytest.param(
        PERSON,
        {"name": "Maria Lopez", "age": 34, "email": "Seville"},
        "email",
        ["Seville", "not an email"],
        id="a_place_under_an_email_key",
    ),
    pytest.param(
        "Return JSON with keys name, country_code. Elena Petrova (elena@example.org), Bulgaria, BG.",
        {"name": "Elena Petrova", "country_code": "elena@example.org"},
        "country_code",
        ["email"],
        id="an_email_under_a_code_key",
    ),
    pytest.param(PRODUCT, {"sku": True, "price": 19.99}, "sku", ["boolean"], id="a_boolean_under_an_id_key"),
    pytest.param(
        EVENT,
        {"title": "Book club", "date": "2024-04-20", "start_time": "2024-04-20", "contact_email": "elena@example.org"},
        "start_time",
        ["a date, not a time", "18:30"],
        id="a_date_under_a_time_key_when_the_text_has_a_time",
    ),
    pytest.param(
        EVENT,
        {"title": "Book club", "date": "2024-04-20", "start_time": "18:30", "contact_email": "18:30"},
        "contact_email",
        ["a time, not an email"],
        id="a_time_under_an_email_key",
    ),
    pytest.param(PRODUCT, {"sku": "4821", "price": 19.99}, "sku", ["cut-off part", "SKU-4821"], id="a_truncated_id"),
    pytest.param(
        "Return JSON with keys ticket_id, status. Ticket HC-68241 is open.",
        {"ticket_id": "68241", "status": "open"},
        "ticket_id",
        ["HC-68241"],
        id="a_truncated_number_id",
    ),
    pytest.param(
        "Return JSON with keys start_date, end_date. Start: 2024-04-20. End: 2024-04-22.",
        {"start_date": "2024-04-20", "end_date": "2024-04-20"},
        "end_date",
        ["2024-04-22"],
        id="the_text_labels_this_key_with_another_value",
    ),
    pytest.param(
        "Return JSON. Required keys: title, publisher. title: Winter of Glass; isbn: 978-1234567890; "
        "publisher: Harbor House.",
        {"title": "Winter of Glass", "publisher": "978-1234567890"},
        "publisher",
        ["Harbor House"],
        id="a_neighbouring_fields_value",
    ),
    pytest.param(
        "Return JSON with keys name, city. Name: Maria. City: Seville.",
        {"name": "Maria", "city": None},
        "city",
        ["null", "Seville"],
        id="null_although_the_text_labels_a_value",
    ),
    pytest.param(
        PERSON,
        {"name": "Maria Lopez", "age": 34, "email": None},
        "email",
        ["maria.lopez@example.org"],
        id="null_although_the_text_has_the_only_email",
    ),
    pytest.param(
        "Return JSON with keys name, city for: Maria Wei lives in Lisbon.",
        {"name": "Maria Wei", "city": "Lisboa"},
        "city",
        ["Lisbon", "copy values exactly"],
        id="a_near_miss_word",
    ),
    pytest.param(
        "Return JSON with keys name, city. Grace Okafor lives in Lima.",
        {"name": "Grace Akafor", "city": "Lima"},
        "name",
        ["Grace Okafor"],
        id="a_near_miss_inside_a_name",
    ),
    pytest.param(
        "Return JSON with keys email, priority. Ticket opened by dana.kim@fastmail.com, priority high.",
        {"email": "dana.kim@faatmail.com", "priority": "high"},
        "email",
        ["dana.kim@fastmail.com"],
        id="a_near_miss_email",
    ),
    pytest.param(
        "Return JSON with keys order_id, items_count. Order A-10293: you ordered 5 items.",
        {"order_id": "A-10293", "items_count": 6},
        "items_count",
        ["5"],
        id="a_number_the_text_words_otherwise",
    ),
    pytest.param(
        "Return JSON. Required keys: order_id, paid. order_id: ORD-1; paid: no.",
        {"order_id": "ORD-1", "paid": True},
        "paid",
        ["false"],
        id="a_boolean_against_its_label",
    ),
    pytest.param(
        "Return JSON with keys order_id, gift_wrap (true or false).\n\nOrder #: A-1\nGift wrap: No",
        {"order_id": "A-1", "gift_wrap": "No gift wrap"},
        "gift_wrap",
        ["true or false"],
        id="the_documents_words_where_the_request_asks_true_or_false",
    ),
    pytest.param(
        "Return JSON with keys sku, in_stock. Nimbus Rain Jacket (SKU RJ-0871), currently out of stock.",
        {"sku": "RJ-0871", "in_stock": True},
        "in_stock",
        ["false"],
        id="a_boolean_the_text_negates",
    ),
    pytest.param(
        "Return JSON with keys username, newsletter. kmorris unsubscribed from the newsletter in May.",
        {"username": "kmorris", "newsletter": True},
        "newsletter",
        ["false"],
        id="a_boolean_a_verb_undoes",
    ),
    pytest.param(
        "Return JSON with keys name, weight_g. Name: Desk Lamp; brand: Acme; weight: 450 g.",
        {"name": "Desk Lamp", "weight_g": "Acme"},
        "weight_g",
        ["Acme", "450"],
        id="a_brand_under_a_weight",
    ),
]


@pytest.mark.parametrize(("prompt", "answer", "key", "words"), CONFLICTS)
def test_each_class_of_conflict_fails_its_step_as_a_doubt(
    prompt: str, answer: dict[str, Any], key: str, words: list[str]
) -> None:
    report = verify(task_of(prompt), answer)
    index = list(answer).index(key)
    assert report.failing == (index,), report.summary()
    check = report.steps[index]
    assert check.doubt and report.only_doubts
    for word in words:
        assert word in check.reason, check.reason


def test_a_hard_failure_is_not_a_doubt() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    report = verify(task_of("Alice is 34.", fmt), {"age": "thirty-four"})
    assert report.failing == (0,) and not report.steps[0].doubt and not report.only_doubts
    assert not verify(task_of(PERSON), {"name": "Maria Lopez"}).only_doubts  # missing keys are problems


# -- no false conflict on correct answers ---------------------------------------------------------------

# Realistic records, answered correctly; several values are computed, invented or normalised.
CORRECT = [
    (
        "Turn this into JSON with fields title, date, start_time and location. Dates as YYYY-MM-DD.\n\n"
        "Team offsite planning. Thursday 14 March 2024, 2:30 pm, Room 4B. Organised by Helen Park.",
        {"title": "Team offsite planning", "date": "2024-03-14", "start_time": "14:30", "location": "Room 4B"},
    ),
    (
        "Receipt as JSON with keys merchant, total, currency, paid_in_cash.\n\nCAFÉ LUMIÈRE\nTotal TTC   10,10 €\n"
        "Espèces   20,00 €",
        {"merchant": "Café Lumière", "total": 10.1, "currency": "EUR", "paid_in_cash": True},
    ),
    (
        "Return JSON with keys city, country, population. Austin has 8,182,032 people.",
        {"city": "Austin", "country": "United States", "population": 8182032},
    ),
    (
        "Return JSON with keys billing_city, shipping_city. Billing city: Seville. Shipping city: same as billing.",
        {"billing_city": "Seville", "shipping_city": "Seville"},
    ),
    (
        "Return JSON with keys name, customer, email. Customer: Maria Lopez <maria@example.org>",
        {"name": "Maria Lopez", "customer": "Maria Lopez", "email": "maria@example.org"},
    ),
    (
        "Please turn this leave request into JSON. Keys: employee_id, name, start_date.\n\n"
        "Employee: Sarah Lindqvist (EMP-04417)\nFrom: Mon 5 Aug 2024",
        {"employee_id": "EMP-04417", "name": "Sarah Lindqvist", "start_date": "2024-08-05"},
    ),
    (
        "Return JSON with keys project, members, lead_email. Project: Falcon\nTeam: Ben Ortiz, Chloe Wu\n"
        "Lead: ana@example.org",
        {"project": "Falcon", "members": ["Ben Ortiz", "Chloe Wu"], "lead_email": "ana@example.org"},
    ),
    (
        "Return JSON with keys name, age, phone. Use null for anything not given. George Miller, 52, lives in Leeds.",
        {"name": "George Miller", "age": 52, "phone": None},
    ),
    (
        "Return JSON with keys name, birth_year, age_in_2024. Ada was born in 1990.",
        {"name": "Ada", "birth_year": 1990, "age_in_2024": 34},
    ),  # computed: not in the text, not a conflict
    (
        "Return JSON with keys sku, in_stock, price. Nimbus Rain Jacket (SKU RJ-0871). Price: $89.50. In stock.",
        {"sku": "RJ-0871", "in_stock": True, "price": 89.5},
    ),
    (
        "Return JSON with keys order_id, total_with_tax. Order ORD-7 total 100.00, add 20% tax.",
        {"order_id": "ORD-7", "total_with_tax": 120.0},
    ),
    (
        "Return JSON with keys flight, departs. BA 287 London Heathrow (LHR) → San Francisco (SFO), Dep 02 Dec 2024 14:10",
        {"flight": "BA287", "departs": "2024-12-02T14:10"},
    ),
    (
        "Return JSON with keys username, newsletter. kmorris signed up for the newsletter.",
        {"username": "kmorris", "newsletter": True},
    ),
    # words without a negation the rule knows are no evidence either way: never a conflict
    (
        "Return JSON with keys username, two_factor. kmorris hasn't turned on two-factor authentication yet.",
        {"username": "kmorris", "two_factor": False},
    ),
    (
        "Return JSON with keys username, newsletter. kmorris signed up, then left the newsletter.",
        {"username": "kmorris", "newsletter": False},
    ),
    (
        "Return JSON with keys invoice_number, total_due. Invoice no. INV-2024-0193. Total due: $1,231.20",
        {"invoice_number": "INV-2024-0193", "total_due": 1231.2},
    ),
    (
        "Return JSON with keys items. Order: 2 x TS-BLK-M, 1 x MUG-LOGO",
        {"items": [{"sku": "TS-BLK-M", "quantity": 2}, {"sku": "MUG-LOGO", "quantity": 1}]},
    ),
]


@pytest.mark.parametrize(("prompt", "answer"), CORRECT, ids=[f"record{i}" for i in range(len(CORRECT))])
def test_correct_answers_on_realistic_records_verify(prompt: str, answer: dict[str, Any]) -> None:
    report = verify(task_of(prompt), answer)
    assert report.ok, report.summary()


CORPUS = [
    item
    for name in ("phrasings.jsonl", "validation.jsonl", "templated.jsonl", "templated_validation.jsonl")
    for item in load_workload(DATA / name)
    if item.family == "json" and isinstance(item.truth, JsonTruth)
]


@pytest.mark.parametrize("item", CORPUS, ids=[item.id for item in CORPUS])
def test_the_corpora_truths_verify(item: Any) -> None:
    """Requests we did not write, with their exact answers: any failure here is a false conflict."""
    task = family.detect(item.request.chat_request(model="m"))
    if task is None:
        pytest.skip("not read as a JSON task (declined, handled as generic)")
    report = family.verify(task, family.segment(task, json.dumps(item.truth.expected)))
    assert report.ok, report.summary()


# -- evidence ---------------------------------------------------------------------------------------------


def test_evidence_says_where_and_how_and_is_json() -> None:
    text = "Order HC-68241 placed on April 20, 2024.\nCity: Seville\nTotal: $1,231.20"
    grounder = Grounder(text, ("order_id", "date", "city", "total"), KeyNames())
    city = grounder.check("city", "Seville")
    assert city.status == GROUNDED and city.labelled and city.normalisation == "exact"
    [occurrence] = city.occurrences
    assert text[occurrence.start : occurrence.end] == "Seville" and occurrence.labels == ("City",)
    date = grounder.check("date", "2024-04-20")
    assert date.status == GROUNDED and date.normalisation == "date" and date.value_kind == "date"
    assert grounder.check("total", 1231.2).normalisation == "number"
    order = grounder.check("order_id", "HC-68241")
    assert order.labelled and order.occurrences[0].before == ("Order",)  # "order HC-68241"
    assert grounder.check("note", "made up").status == UNKNOWN
    assert grounder.check("city", "2024-04-20").status == CONFLICT
    data = city.to_data()
    assert json.loads(json.dumps(data)) == data and data["occurrences"][0]["labels"] == ["City"]


def test_prepare_keeps_each_keys_evidence_for_the_entry() -> None:
    task = task_of(PERSON)
    steps = family.segment(task, json.dumps({"name": "Maria Lopez", "age": 34, "email": "maria.lopez@example.org"}))
    prepared = family.prepare(task, steps)
    assert json.loads(json.dumps(prepared)) == prepared
    grounding = prepared["grounding"]
    assert set(grounding) == {"name", "age", "email"}
    assert grounding["email"]["status"] == "grounded" and grounding["email"]["value_kind"] == "email"
    assert grounding["email"]["occurrences"][0]["span"][1] > grounding["email"]["occurrences"][0]["span"][0]


# -- property: correct answers on generated records never conflict; swapped values do ------------------

FIELDS = {
    "email": ("Email", st.sampled_from(["ana.ruiz@example.org", "tom@fabrikam.jp", "li.wei@posteo.de"])),
    "phone": ("Phone", st.sampled_from(["+44 161 496 0321", "+1 415 555 0134", "(206) 555-0199"])),
    "start_date": ("Start date", st.sampled_from(["2024-04-20", "2025-01-05", "2023-11-30"])),
    "start_time": ("Start time", st.sampled_from(["18:30", "09:15", "07:40"])),
    "price": ("Price", st.sampled_from([19.99, 129.0, 7.5])),
    "sku": ("SKU", st.sampled_from(["SKU-4821", "TR-2044", "RJ-0871"])),
    "city": ("City", st.sampled_from(["Seville", "Lisbon", "Osaka"])),
    "name": ("Name", st.sampled_from(["Maria Lopez", "Kenji Haddad", "Grace Okafor"])),
    "quantity": ("Qty", st.integers(1, 40)),
}


@st.composite
def records(draw: Any) -> tuple[str, dict[str, Any]]:
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=2, max_size=6, unique=True))
    answer = {k: draw(FIELDS[k][1]) for k in keys}
    sep = draw(st.sampled_from(["\n", "; ", ". "]))
    lines = [f"{FIELDS[k][0]}: {answer[k]}" for k in draw(st.permutations(keys))]
    intro = draw(
        st.sampled_from(["Return JSON with keys {keys}.", "Extract {keys} as JSON.", "JSON please, keys: {keys}."])
    )
    return intro.format(keys=", ".join(keys)) + "\n\n" + sep.join(lines), answer


@settings(max_examples=120, deadline=None)
@given(records())
def test_a_correct_answer_on_a_generated_record_never_conflicts(record: tuple[str, dict[str, Any]]) -> None:
    prompt, answer = record
    report = verify(task_of(prompt), answer)
    assert report.ok, (prompt, report.summary())


_STRONG = {"email", "phone", "start_date", "start_time", "sku"}


@settings(max_examples=120, deadline=None)
@given(records(), st.data())
def test_a_value_moved_to_a_key_of_another_kind_is_caught(record: tuple[str, dict[str, Any]], data: Any) -> None:
    prompt, answer = record
    strong = [k for k in answer if k in _STRONG]
    others = [k for k in answer if k not in strong or k in _STRONG]
    if len(strong) < 1 or len(others) < 2:
        return
    source = data.draw(st.sampled_from(strong))
    target = data.draw(st.sampled_from([k for k in others if k != source and FIELDS[k][0] != FIELDS[source][0]]))
    wrong = dict(answer, **{target: answer[source]})
    report = verify(task_of(prompt), wrong)
    assert list(wrong).index(target) in report.failing, (prompt, wrong)
