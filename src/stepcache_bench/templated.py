"""Templated documents: one sender's layout, other values, the same extraction request every time.

Most JSON-extraction traffic is templated — order confirmations from one shop, invoices from one
vendor, shipping notices from one carrier, tickets from one web form — so the n-th document of a
layout differs from the first in its values and in the free text around them, not in where a value
lives. A cache that learns from a verified (document, JSON) pair where each key's value is written
can read it from the next document of the same layout; this module makes the test material.

Layouts (:data:`LAYOUTS`; each one sender, written the way that sender writes, look-alike fields on
purpose and free text that changes from document to document):

* ``order_confirmation`` — a shop's e-mail: label/value block, ``|`` table, Subtotal/Shipping/Total,
  billing and shipping addresses; instruction in the prompt ("Return JSON with keys ...").
* ``vendor_invoice`` — a German supplier's invoice: aligned table, net/VAT/total, invoice, delivery and
  due dates written ``03.03.2025``, amounts ``1.234,50 €``; strict ``json_schema`` with types.
* ``bank_alert`` — a card alert in prose: the amount next to the available balance, ``03/03/2025`` at
  ``2:32 PM``; instruction after the document.
* ``store_receipt`` — a till receipt: SUBTOTAL/TAX/TOTAL, tender and change, quantity lines.
* ``hotel_booking`` — a hotel confirmation: arrival and departure, nightly rate vs total, breakfast in
  words; ``response_format`` ``json_object``.
* ``delivery_notice`` — a carrier's notice in prose: dispatch vs delivery date, a time window, a
  signature said in words; a JSON skeleton in the system prompt.
* ``support_ticket`` — a web form's e-mail: From/To/Subject/Date headers, form fields (some left
  empty: null), a quoted earlier thread with another order number; ``json_object``.
* ``calendar_invite`` — an invitation: When/Where blocks, start–end in ``10am – 11:30am``, organizer
  vs guest list (an array); ``json_schema``.
* ``job_posting`` — prose and bullets, a salary range or "Competitive" (null), posted vs apply-by.
* ``flight_eticket`` — aligned FROM/TO and DEPART/ARRIVE columns, ``04MAR2025``, ticket vs booking
  reference; a JSON skeleton in the prompt.

:func:`templated_workload` draws ``per_layout`` documents of each layout for a seed. Items carry
``task="json"``, ``family="json"``, ids ``tpl<seed>-<layout>-<nn>``; a layout's first document is
``perturbation="base"``, the others ``"template:<layout>"`` with ``base_id`` the first. Every first
document comes before every other document (the rest are shuffled by the seed, as traffic arrives).

:func:`templated_mutations` edits documents of a layout (text-level, so hand-written documents of a
layout qualify too) and recomputes the truth: ``mutate:rename_label`` (a label written another way),
``mutate:move_field`` (a field's line moved elsewhere), ``mutate:add_lookalike`` (a look-alike field
added next to a requested one), ``mutate:swap_values`` (two look-alike fields trade values; the truth
follows the labels) — all ``semantic=False``: the requested information is still in the document —
and ``mutate:remove_field`` (a requested field taken out; only layouts whose instruction says to use
null for what the document does not give; ``semantic=True``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from ._layouts_money import BankAlert, HotelBooking, OrderConfirmation, StoreReceipt, VendorInvoice
from ._layouts_notice import CalendarInvite, DeliveryNotice, FlightTicket, JobPosting, SupportTicket
from ._template_kit import Edit, Layout
from .workload import DEFAULT_SEEDS, JsonTruth, WorkloadItem

__all__ = ["LAYOUTS", "MUTATION_NAMES", "Layout", "Edit", "layout_of", "templated_workload", "templated_mutations"]

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        OrderConfirmation(),
        VendorInvoice(),
        BankAlert(),
        StoreReceipt(),
        HotelBooking(),
        DeliveryNotice(),
        SupportTicket(),
        CalendarInvite(),
        JobPosting(),
        FlightTicket(),
    )
}
MUTATION_NAMES: tuple[str, ...] = ("rename_label", "move_field", "add_lookalike", "swap_values", "remove_field")


def templated_workload(
    seed: int = DEFAULT_SEEDS[0], layouts: Iterable[str] | None = None, per_layout: int = 10
) -> list[WorkloadItem]:
    """``per_layout`` documents of each layout (default: all of :data:`LAYOUTS`) for ``seed``: every
    layout's first document first, then the others shuffled. The same arguments give the same items;
    another seed draws other values in the same layouts."""
    names = list(LAYOUTS) if layouts is None else list(layouts)
    unknown = [n for n in names if n not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown layout(s) {unknown}; choose from {', '.join(LAYOUTS)}")
    if per_layout < 1:
        raise ValueError("per_layout must be ≥ 1")
    firsts: list[WorkloadItem] = []
    others: list[WorkloadItem] = []
    for name in names:
        items = _documents(LAYOUTS[name], seed, per_layout)
        firsts.append(items[0])
        others += items[1:]
    random.Random(f"templated:{seed}:order").shuffle(others)
    return firsts + others


def _documents(layout: Layout, seed: int, count: int) -> list[WorkloadItem]:
    rng = random.Random(f"templated:{seed}:{layout.name}")  # one stream per layout: adding one changes no other
    items: list[WorkloadItem] = []
    seen: set[str] = set()
    while len(items) < count:
        values = layout.sample(rng)
        text = layout.render(values)
        if text in seen:
            continue
        seen.add(text)
        index = len(items)
        first = f"tpl{seed}-{layout.name}-00"
        items.append(
            WorkloadItem(
                id=f"tpl{seed}-{layout.name}-{index:02d}",
                request=layout.request(text),
                task="json",
                perturbation="base" if index == 0 else f"template:{layout.name}",
                base_id=None if index == 0 else first,
                seed=seed,
                semantic=False,
                truth=layout.truth(layout.expected(values)),
                family="json",
            )
        )
    return items


def layout_of(item: WorkloadItem) -> Layout | None:
    """The layout whose request ``item`` is (its instruction and response format), or ``None``."""
    for layout in LAYOUTS.values():
        if layout.document_of(item.request) is not None:
            return layout
    return None


def templated_mutations(items: Sequence[WorkloadItem], rng: random.Random) -> list[WorkloadItem]:
    """For every layout among ``items``, each of its edits applied to one of its documents (a later one
    where there is one, drawn by ``rng``), with the truth recomputed. Items of no layout, and items that
    are already rewrites (``wrap:`` / ``mutate:``), are left alone. Deterministic for an ``rng`` state."""
    groups: dict[str, tuple[Layout, list[tuple[WorkloadItem, str]]]] = {}
    for item in items:
        if item.perturbation.startswith(("wrap:", "mutate:")) or not isinstance(item.truth, JsonTruth):
            continue
        layout = layout_of(item)
        document = layout.document_of(item.request) if layout is not None else None
        if layout is None or document is None:
            continue
        groups.setdefault(item.base_id or item.id, (layout, []))[1].append((item, document))
    taken = {item.id for item in items}
    made: list[WorkloadItem] = []
    for base_id, (layout, members) in groups.items():
        later = [m for m in members if m[0].id != base_id] or members
        for edit in layout.edits:
            mutated = _mutate(layout, edit, base_id, later, rng, taken)
            if mutated is not None:
                taken.add(mutated.id)
                made.append(mutated)
    return made


def _mutate(
    layout: Layout,
    edit: Edit,
    base_id: str,
    members: Sequence[tuple[WorkloadItem, str]],
    rng: random.Random,
    taken: set[str],
) -> WorkloadItem | None:
    order = list(members)
    rng.shuffle(order)
    for item, document in order:
        assert isinstance(item.truth, JsonTruth)
        edited = edit.apply(document, dict(item.truth.expected), rng)
        if edited is None:
            continue
        text, expected = edited
        ident, n = f"{item.id}~{edit.name}", 2
        while ident in taken:
            ident, n = f"{item.id}~{edit.name}-{n}", n + 1
        return WorkloadItem(
            id=ident,
            request=layout.request(text),
            task="json",
            perturbation=f"mutate:{edit.name}",
            base_id=base_id,
            seed=item.seed,
            semantic=edit.semantic,
            truth=layout.truth(expected),
            family="json",
        )
    return None
