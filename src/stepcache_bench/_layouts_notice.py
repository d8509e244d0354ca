"""Templated notices and messages: a carrier's delivery notice, a web form's support ticket e-mail, a
calendar invitation, a job board's posting and an airline's e-ticket receipt.

Each is one sender's layout, written the way that sender writes it; see
:mod:`stepcache_bench._template_kit` for what a layout is.
"""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from typing import Any, ClassVar

from ._template_kit import (
    Edit,
    Layout,
    Lookalike,
    Move,
    Remove,
    Rename,
    Swap,
    Values,
    clock,
    day,
    digits,
    email_for,
    money,
    person,
    pick,
    read_date,
    write_date,
    write_money,
    write_time,
)

__all__ = ["DeliveryNotice", "SupportTicket", "CalendarInvite", "JobPosting", "FlightTicket"]


# -- a carrier's delivery notice --------------------------------------------------------------------

_SHOPS = (
    "Oakfield Books",
    "Kettle & Crane",
    "Nimbus Outdoor",
    "The Paper Mill Shop",
    "Brightwool Yarns",
    "Pixel Forge Games",
    "Hollow Oak Tea Co.",
)
_HUBS = ("Daventry", "Warrington", "Bristol Avonmouth", "Motherwell", "Peterborough")
_UK_PLACES = (
    ("Leeds", "LS6 2AB"),
    ("Bristol", "BS3 1QP"),
    ("Manchester", "M14 5RT"),
    ("Cardiff", "CF24 3DG"),
    ("Norwich", "NR2 4PD"),
    ("York", "YO31 7EX"),
    ("Brighton", "BN1 6GH"),
    ("Glasgow", "G12 8QQ"),
    ("Bath", "BA1 2LP"),
    ("Oxford", "OX4 1DA"),
    ("Sheffield", "S11 8UZ"),
    ("Exeter", "EX4 4QJ"),
)
_UK_STREETS = (
    "Kirkstall Road",
    "Mill Lane",
    "Church Street",
    "Victoria Road",
    "Park Terrace",
    "Queens Drive",
    "Ashgrove",
    "Station Approach",
)
_SIGNATURE = {
    True: ("Someone will need to sign for this parcel.", "A signature is required on delivery."),
    False: (
        "No signature is needed, so we can leave it in your safe place.",
        "You don't need to be in: no signature is required.",
    ),
}
_TIPS = (
    "Not going to be in? Choose a neighbour, a safe place or a Parcelwise locker in the app.",
    "Want it another day? You can reschedule up to 22:00 the night before.",
    "Your driver today is Sam. We'll send you a one-hour window on the morning of delivery.",
    "Please make sure your house number is visible from the street.",
)


def _earlier_parcel(rng: random.Random) -> str:
    hour, minute = clock(rng, 8, 19, 1)
    return (
        f"Your earlier parcel PW {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)} was delivered on "
        f"{write_date(day(rng), 'weekday')} at {write_time(hour, minute, '24')}."
    )


class DeliveryNotice(Layout):
    name: ClassVar[str] = "delivery_notice"
    kind: ClassVar[str] = "carrier delivery notice: prose with two dates, a time window, signature said in words"
    keys: ClassVar[tuple[str, ...]] = (
        "tracking_number",
        "delivery_date",
        "window_start",
        "window_end",
        "signature_required",
        "postcode",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"we'll deliver it on", ("your delivery is booked for", "the driver will be with you on")),
        Move(r"^Tracking number:", before=r"^Good news"),
        Lookalike(r"^Good news", _earlier_parcel, after=True, paragraph=True),
    )

    def sample(self, rng: random.Random) -> Values:
        first, last = person(rng)
        shipped = day(rng)
        start = rng.randint(7, 16)
        city, postcode = pick(rng, _UK_PLACES)
        signature = rng.random() < 0.35
        return {
            "first": first,
            "last": last,
            "shop": pick(rng, _SHOPS),
            "hub": pick(rng, _HUBS),
            "shipped": shipped,
            "delivery": shipped + timedelta(days=rng.randint(1, 4)),
            "start": start,
            "end": start + rng.choice((2, 2, 3, 4)),
            "signature": signature,
            "signature_text": pick(rng, _SIGNATURE[signature]),
            "tracking": f"PW {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)}",
            "city": city,
            "postcode": postcode,
            "street": f"{rng.randint(1, 240)} {pick(rng, _UK_STREETS)}",
            "tip": pick(rng, _TIPS),
            "greeting": pick(rng, ("Hello", "Hi", "Dear")),
        }

    def render(self, v: Values) -> str:
        return "\n".join(
            [
                f"Subject: Your parcel from {v['shop']} arrives {write_date(v['delivery'], 'weekday_nodate')}",
                "",
                f"{v['greeting']} {v['first']},",
                "",
                f"Good news — your parcel from {v['shop']} is on its way. It left our {v['hub']} depot on "
                f"{write_date(v['shipped'], 'weekday_nodate')} and we'll deliver it on "
                f"{write_date(v['delivery'], 'weekday')} between {v['start']:02d}:00 and {v['end']:02d}:00.",
                "",
                f"Tracking number: {v['tracking']}",
                v["signature_text"],
                "",
                v["tip"],
                "",
                "Delivering to:",
                f"{v['first']} {v['last']}",
                v["street"],
                v["city"],
                v["postcode"],
                "",
                "Parcelwise · Track, redirect or reschedule at parcelwise.co.uk",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "tracking_number": v["tracking"],
            "delivery_date": v["delivery"].isoformat(),
            "window_start": f"{v['start']:02d}:00",
            "window_end": f"{v['end']:02d}:00",
            "signature_required": v["signature"],
            "postcode": v["postcode"],
        }

    def envelope(self, document: str) -> dict[str, Any]:
        skeleton = json.dumps(
            {
                "tracking_number": "",
                "delivery_date": "YYYY-MM-DD",
                "window_start": "HH:MM",
                "window_end": "HH:MM",
                "signature_required": False,
                "postcode": "",
            }
        )
        return {
            "messages": [
                {
                    "role": "system",
                    "content": f"Fill in this JSON from the delivery notice and return only the JSON:\n{skeleton}",
                },
                {"role": "user", "content": document},
            ]
        }


# -- a web form's support ticket e-mail -------------------------------------------------------------

_CATEGORIES = ("Billing", "Delivery", "Returns", "Technical", "Other")
_MESSAGES = {
    "Billing": (
        "I was charged twice for my last order. Could you refund the second payment please?",
        "My invoice shows the wrong company name. It should be the one on my account.\nThanks!",
    ),
    "Delivery": (
        "The tracking page hasn't changed in five days. Is my parcel lost?",
        "The courier left my box at the wrong address, two doors down.\nLuckily the neighbour brought it.",
    ),
    "Returns": (
        "The resistance bands are too light for me. How do I send them back and swap for the heavy set?",
        "I'd like to return the yoga mat, it smells very strongly of rubber.",
    ),
    "Technical": (
        "The app keeps logging me out after the last update (Android 14, Pixel 7).",
        "My heart-rate strap won't pair with the LumenFit app any more.\nI've tried resetting it twice.",
    ),
    "Other": (
        "Do you offer a discount for physiotherapy clinics buying in bulk?",
        "Just wanted to say the new kettlebells are great. Any plans for a 32 kg one?",
    ),
}
_PHONES = ("+49 176 {a} {b}", "+44 7700 {c}", "(415) 555-{d}", "0176 {a}{b}", "+1 312 555 {d}")
_AGENTS = ("Jonas", "Priti", "Mark", "Aylin", "Sven")


def _phone(rng: random.Random) -> str:
    return pick(rng, _PHONES).format(a=digits(rng, 4), b=digits(rng, 4), c=digits(rng, 6), d=digits(rng, 4))


def _alternative_email(rng: random.Random) -> str:
    first, last = person(rng)
    return f"Alternative email: {email_for(rng, first, last, ('work-mail.example', 'gmx.de', 'hotmail.com'))}"


class SupportTicket(Layout):
    name: ClassVar[str] = "support_ticket"
    kind: ClassVar[str] = "web-form e-mail: From/To/Subject/Date headers, form fields, quoted earlier thread"
    keys: ClassVar[tuple[str, ...]] = ("customer_name", "email", "phone", "order_number", "category")
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Email:", ("E-mail address:", "Your email:")),
        Move(r"^Category:", before=r"^Name:"),
        Lookalike(r"^Email:", _alternative_email, after=True),
        Remove(r"^Order number:", ("order_number",)),
        Remove(r"^Phone:", ("phone",)),
    )

    def sample(self, rng: random.Random) -> Values:
        first, last = person(rng)
        category = pick(rng, _CATEGORIES)
        sent = day(rng)
        hour, minute = clock(rng, 6, 23, 1)
        earlier_first = rng.random() < 0.5
        return {
            "first": first,
            "last": last,
            "email": email_for(
                rng, first, last, ("gmail.com", "outlook.com", "posteo.de", "yahoo.co.uk", "icloud.com", "proton.me")
            ),
            "phone": _phone(rng) if rng.random() < 0.75 else None,
            "order": f"LF-{sent.year}-{digits(rng, 5)}" if rng.random() < 0.8 else None,
            "category": category,
            "message": pick(rng, _MESSAGES[category]),
            "sent": sent,
            "hour": hour,
            "minute": minute,
            "second": rng.randint(0, 59),
            "contact": pick(rng, ("Email", "Phone")),
            "submission": digits(rng, 6),
            "ip": f"203.0.113.{rng.randint(2, 254)}",
            "earlier": {
                "date": sent - timedelta(days=rng.randint(1, 20)),
                "order": f"LF-{sent.year - 1}-{digits(rng, 5)}",
                "ticket": digits(rng, 5),
                "agent": pick(rng, _AGENTS),
            }
            if earlier_first
            else None,
        }

    def render(self, v: Values) -> str:
        name = f"{v['first']} {v['last']}"
        sent = v["sent"]
        header_date = (
            f"{write_date(sent, 'calendar')[:3]}, {sent.day} {write_date(sent, 'dmy').split()[1]} "
            f"{sent.year} {v['hour']:02d}:{v['minute']:02d}:{v['second']:02d} +0100"
        )
        quoted: list[str] = []
        if v["earlier"]:
            e = v["earlier"]
            when = f"{write_date(e['date'], 'calendar')[:3]}, {e['date'].day} {write_date(e['date'], 'dmy')[-8:]}"
            quoted = [
                "",
                f"On {when} at 09:12, LumenFit Support <support@lumenfit.com> wrote:",
                f"> Hi {v['first']},",
                f"> Thanks for contacting us about order {e['order']}.",
                "> We've passed this on to our warehouse team and will get back to you shortly.",
                f"> Ticket #{e['ticket']}",
                ">",
                f"> {e['agent']}, LumenFit Support",
            ]
        return "\n".join(
            [
                "From: Brightdesk Forms <no-reply@forms.brightdesk.io>",
                "To: support@lumenfit.com",
                f"Reply-To: {v['email']}",
                f"Subject: [Contact form] {v['category']} – {name}",
                f"Date: {header_date}",
                "",
                'New submission from the "Contact us" form on lumenfit.com:',
                "",
                f"Name: {name}",
                f"Email: {v['email']}",
                f"Phone: {v['phone'] or ''}".rstrip(),
                f"Order number: {v['order'] or ''}".rstrip(),
                f"Category: {v['category']}",
                f"Preferred contact: {v['contact']}",
                "Message:",
                v["message"],
                "",
                "--",
                f"Sent by Brightdesk Forms · submission #{v['submission']} from {v['ip']}",
                *quoted,
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "customer_name": f"{v['first']} {v['last']}",
            "email": v["email"],
            "phone": v["phone"],
            "order_number": v["order"],
            "category": v["category"],
        }

    def envelope(self, document: str) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "role": "system",
                    "content": "Read the contact-form submission and return a JSON object with "
                    "customer_name, email, phone, order_number and category (one of Billing, Delivery, Returns, "
                    "Technical, Other). Take the values from the submitted form fields; use null for any field the "
                    "form left empty. JSON only.",
                },
                {"role": "user", "content": document},
            ],
            "response_format": {"type": "json_object"},
        }


# -- a calendar invitation --------------------------------------------------------------------------

_TITLES = (
    "Quarterly business review",
    "Design sync: checkout flow",
    "Sprint planning",
    "Vendor onboarding call",
    "Budget review FY25",
    "Interview: Senior Data Engineer",
    "Offsite planning (kick-off)",
    "Coffee chat",
)
_ROOMS_CAL = (
    "Room Elbe, 3rd floor",
    "Meeting room Tokyo (4.12)",
    "Café Einstein, Unter den Linden 42",
    "Big kitchen, 1st floor",
    "Boardroom",
    "Alster (2.04)",
)
_DESCRIPTIONS = (
    "Agenda:\n1. Numbers since last review\n2. Risks\n3. Next steps",
    "Please read the pre-read doc before the call. Cameras on if you can.",
    "Quick sync to unblock the release. If you can't make it, send a delegate.",
    "",
    "We'll record this session for those in other time zones.",
)
_COLLEAGUES = ("fernhill.io", "fernhill.io", "partner-agency.com")


def _was(rng: random.Random) -> str:
    hour, minute = clock(rng, 8, 16, 15)
    return (
        f"Changed: was {write_date(day(rng), 'calendar')} ⋅ {write_time(hour, minute, 'cal')} – "
        f"{write_time(hour + 1, minute, 'cal')}"
    )


class CalendarInvite(Layout):
    name: ClassVar[str] = "calendar_invite"
    kind: ClassVar[str] = "calendar invitation: When/Where blocks, start–end times, organizer vs guest list"
    keys: ClassVar[tuple[str, ...]] = (
        "title",
        "date",
        "start_time",
        "end_time",
        "location",
        "organizer_email",
        "guests",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Organizer$", ("Organiser", "Organised by")),
        Move(r"^Where$", before=r"^When$", paragraph=True),
        Lookalike(r"⋅", _was, after=True),
    )

    def sample(self, rng: random.Random) -> Values:
        people: list[tuple[str, str, str]] = []
        wanted = rng.randint(3, 6)
        while len(people) < wanted:  # distinct addresses: a clash is simply drawn again
            first, last = person(rng)
            email = email_for(rng, first, last, _COLLEAGUES)
            if all(email != p[2] for p in people):
                people.append((first, last, email))
        hour, minute = clock(rng, 8, 17, 15)
        length = pick(rng, (30, 45, 60, 60, 90))
        return {
            "people": people,
            "title": pick(rng, _TITLES),
            "date": day(rng),
            "hour": hour,
            "minute": minute,
            "end": divmod(hour * 60 + minute + length, 60),
            "where": pick(rng, _ROOMS_CAL),
            "meet": f"{''.join(pick(rng, 'abcdefghijkmnopqrstuvwxyz') for _ in range(3))}-"
            f"{''.join(pick(rng, 'abcdefghijkmnopqrstuvwxyz') for _ in range(4))}-"
            f"{''.join(pick(rng, 'abcdefghijkmnopqrstuvwxyz') for _ in range(3))}",
            "pin": digits(rng, 9),
            "description": pick(rng, _DESCRIPTIONS),
            "recipient": rng.randrange(1, len(people)),
        }

    def render(self, v: Values) -> str:
        organizer = v["people"][0]
        guests = [f"• {email}" + (" - organizer" if i == 0 else "") for i, (_, _, email) in enumerate(v["people"])]
        end_hour, end_minute = v["end"]
        return "\n".join(
            [
                f"{organizer[0]} {organizer[1]} has invited you to: {v['title']}",
                "",
                "When",
                f"{write_date(v['date'], 'calendar')} ⋅ {write_time(v['hour'], v['minute'], 'cal')} – "
                f"{write_time(end_hour, end_minute, 'cal')} (Central European Time - Berlin)",
                "",
                "Where",
                v["where"],
                "",
                "Joining info",
                f"meet.google.com/{v['meet']}",
                f"Join by phone: (DE) +49 30 300195 {v['pin'][:3]}  PIN: {v['pin']}#",
                "",
                "Organizer",
                organizer[2],
                "",
                "Guests",
                *guests,
                "",
                *([v["description"], ""] if v["description"] else []),
                f"Reply for {v['people'][v['recipient']][2]}: Yes · No · Maybe",
                "Invitation from Google Calendar",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        end_hour, end_minute = v["end"]
        return {
            "title": v["title"],
            "date": v["date"].isoformat(),
            "start_time": f"{v['hour']:02d}:{v['minute']:02d}",
            "end_time": f"{end_hour:02d}:{end_minute:02d}",
            "location": v["where"],
            "organizer_email": v["people"][0][2],
            "guests": [p[2] for p in v["people"]],
        }

    def envelope(self, document: str) -> dict[str, Any]:
        time = {"type": "string", "description": "24-hour HH:MM"}
        schema = {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "date": {"type": "string", "description": "YYYY-MM-DD"},
                "start_time": time,
                "end_time": time,
                "location": {"type": ["string", "null"]},
                "organizer_email": {"type": "string"},
                "guests": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "every address listed under Guests, in order",
                },
            },
            "required": list(self.keys),
        }
        return {
            "messages": [
                {"role": "system", "content": "Turn calendar invitations into events for the team planner."},
                {"role": "user", "content": document},
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "calendar_event", "schema": schema}},
        }


# -- a job board's posting --------------------------------------------------------------------------

_JOBS = (
    "Senior Data Engineer",
    "Product Designer",
    "Backend Developer (Go)",
    "Customer Success Manager",
    "Warehouse Team Lead",
    "Junior Accountant",
    "Site Reliability Engineer",
    "Marketing Intern",
)
_COMPANIES = (
    ("Fernhill Analytics", "fernhill.io"),
    ("Tidewater Logistics", "tidewater.eu"),
    ("Brightwool", "brightwool.com"),
    ("Copperleaf Health", "copperleaf.health"),
)
_JOB_PLACES = (
    ("Berlin", "Germany", "€"),
    ("Amsterdam", "Netherlands", "€"),
    ("Lisbon", "Portugal", "€"),
    ("London", "United Kingdom", "£"),
    ("Manchester", "United Kingdom", "£"),
    ("Dublin", "Ireland", "€"),
)
_BLURBS = (
    "We help mid-sized retailers forecast demand. 60 people, profitable, and growing carefully.",
    "We're a B2B logistics platform moving 2 million parcels a month across Europe.",
    "Our team builds software that nurses actually like using. We're backed by patient investors.",
    "Family-owned since 1987, we now sell to 40 countries from our own online shop.",
)
_DUTIES = (
    "Own our data pipelines end to end",
    "Work closely with product and design",
    "Mentor junior colleagues",
    "Talk to customers every week",
    "Improve our on-call and incident process",
    "Shape the roadmap for your area",
    "Keep the month-end close on schedule",
)
_NEEDS = (
    "3+ years of relevant experience",
    "Fluent English; German is a plus",
    "Comfortable with ambiguity",
    "Experience with SQL and Python",
    "A portfolio you're proud of",
    "A valid driving licence",
    "Strong written communication",
)
_EMPLOYMENT = ("Full-time", "Full-time", "Full-time", "Part-time", "Contract", "Internship")


def _allowance(rng: random.Random) -> str:
    return f"On-call allowance: {rng.randint(12, 48) * 100:,} per year"


class JobPosting(Layout):
    name: ClassVar[str] = "job_posting"
    kind: ClassVar[str] = "job posting: prose and bullet lists, salary range or none, posted vs apply-by dates"
    keys: ClassVar[tuple[str, ...]] = (
        "job_title",
        "company",
        "location",
        "reference",
        "salary_min",
        "salary_max",
        "employment_type",
        "apply_by",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Apply by", ("Applications close on", "Please apply by")),
        Move(r"^Salary:", before=r"^About us"),
        Lookalike(r"^Salary:", _allowance, after=True),
        Remove(r"^Salary:", ("salary_min", "salary_max")),
        Swap(
            r"^Posted (.+?) ·",
            r"^Apply by (.+?) at ",
            read_first=lambda text: {},
            read_second=lambda text: {"apply_by": read_date(text, "dmy_long")},
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        posted = day(rng)
        low = rng.randint(32, 110) * 1000
        salary = (low, low + rng.randint(5, 25) * 1000) if rng.random() < 0.75 else None
        return {
            "title": pick(rng, _JOBS),
            "company": pick(rng, _COMPANIES),
            "place": pick(rng, _JOB_PLACES),
            "mode": pick(rng, ("Hybrid", "Remote", "On-site")),
            "posted": posted,
            "apply_by": posted + timedelta(days=rng.randint(14, 45)),
            "reference": f"JR-{digits(rng, 5)}",
            "blurb": pick(rng, _BLURBS),
            "duties": rng.sample(_DUTIES, rng.randint(2, 4)),
            "needs": rng.sample(_NEEDS, rng.randint(2, 4)),
            "salary": salary,
            "employment": pick(rng, _EMPLOYMENT),
            "start": posted + timedelta(days=rng.randint(40, 90)) if rng.random() < 0.5 else None,
        }

    def render(self, v: Values) -> str:
        city, country, symbol = v["place"]
        company, domain = v["company"]
        salary = (
            "Competitive"
            if v["salary"] is None
            else f"{symbol}{v['salary'][0]:,} – {symbol}{v['salary'][1]:,} per year"
        )
        start = write_date(v["start"], "dmy_long") if v["start"] else "As soon as possible"
        return "\n".join(
            [
                v["title"],
                f"{company} · {city}, {country} ({v['mode']})",
                f"Posted {write_date(v['posted'], 'dmy_long')} · Ref. {v['reference']}",
                "",
                "About us",
                v["blurb"],
                "",
                "What you'll do",
                *(f"• {d}" for d in v["duties"]),
                "",
                "What we're looking for",
                *(f"• {n}" for n in v["needs"]),
                "",
                f"Salary: {salary}",
                f"Employment type: {v['employment']}",
                f"Start date: {start}",
                f"Apply by {write_date(v['apply_by'], 'dmy_long')} at careers.{domain}/jobs/{v['reference']}",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        city, country, _ = v["place"]
        low, high = v["salary"] or (None, None)
        return {
            "job_title": v["title"],
            "company": v["company"][0],
            "location": f"{city}, {country}",
            "reference": v["reference"],
            "salary_min": low,
            "salary_max": high,
            "employment_type": v["employment"],
            "apply_by": v["apply_by"].isoformat(),
        }

    def envelope(self, document: str) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "role": "system",
                    "content": "You turn job postings into records for our job board. Return JSON with keys "
                    "job_title, company, location (city, country), reference, salary_min, salary_max (yearly, as numbers in "
                    "the posting's currency), employment_type (Full-time, Part-time, Contract or Internship) and apply_by "
                    "(YYYY-MM-DD). Use null for anything the posting does not state.",
                },
                {"role": "user", "content": document},
            ]
        }


# -- an airline's e-ticket receipt ------------------------------------------------------------------

_AIRPORTS = (
    ("London Heathrow", "LHR", "T5"),
    ("Madrid Barajas", "MAD", "T4S"),
    ("Lisbon Humberto Delgado", "LIS", "T1"),
    ("Amsterdam Schiphol", "AMS", ""),
    ("Dublin", "DUB", "T2"),
    ("Rome Fiumicino", "FCO", "T3"),
    ("Edinburgh", "EDI", ""),
    ("Athens", "ATH", ""),
    ("Copenhagen Kastrup", "CPH", "T3"),
    ("Vienna", "VIE", "T3"),
)
_CABIN = ("Economy (K)", "Economy (Q)", "Economy Plus (W)", "Business (J)")
_TICKET_NOTES = (
    "Check-in opens 30 hours before departure at aureliaair.com or in the app.",
    "Boarding closes 20 minutes before departure. Please be at the gate on time.",
    "Liquids in hand baggage: max 100 ml per container, in one clear 1-litre bag.",
    "This receipt is not a boarding pass.",
)
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_FROM_COL, _CELL = 21, 34


def _cell(airport: tuple[str, str, str]) -> str:
    name, code, terminal = airport
    return f"{name} ({code}){' ' + terminal if terminal else ''}".ljust(_CELL)


def _code(cell: str) -> str:
    found = re.search(r"\(([A-Z]{3})\)", cell)
    if found is None:
        raise ValueError(f"no airport code in {cell!r}")
    return found.group(1)


def _schedule_change(rng: random.Random) -> str:
    hour, minute = clock(rng, 5, 20, 5)
    return f"Schedule change: this flight was originally due to depart at {write_time(hour, minute, '24')}."


class FlightTicket(Layout):
    name: ClassVar[str] = "flight_eticket"
    kind: ClassVar[str] = "airline e-ticket: aligned FROM/TO and DEPART/ARRIVE columns, 04MAR2025 dates, fare lines"
    keys: ClassVar[tuple[str, ...]] = (
        "booking_reference",
        "ticket_number",
        "flight_number",
        "departure_airport",
        "arrival_airport",
        "departure_date",
        "departure_time",
        "arrival_time",
        "seat",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Booking reference:", ("Reservation code: ", "PNR:              ")),
        Move(r"^Seat ", before=r"^FLIGHT"),
        Lookalike(r"^AU \d", _schedule_change, after=True),
        Swap(
            rf"^(?=AU \d).{{{_FROM_COL}}}(.{{{_CELL}}})",
            rf"^(?=AU \d).{{{_FROM_COL + _CELL}}}(.{{{_CELL}}})",
            read_first=lambda text: {"departure_airport": _code(text)},
            read_second=lambda text: {"arrival_airport": _code(text)},
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        first, last = person(rng)
        origin, destination = rng.sample(_AIRPORTS, 2)
        hour, minute = clock(rng, 5, 22, 5)
        length = rng.randrange(75, 240, 5)
        fare = money(rng, 39, 600)
        flown = day(rng)
        return {
            "first": first,
            "last": last,
            "title": pick(rng, ("MS", "MR", "MRS", "DR")),
            "booking": "".join(pick(rng, _LETTERS) for _ in range(6)),
            "ticket": f"157 {digits(rng, 10)}",
            "flyer": f"AU {digits(rng, 8)} ({pick(rng, ('Blue', 'Silver', 'Gold'))})" if rng.random() < 0.4 else None,
            "issued": flown - timedelta(days=rng.randint(1, 120)),
            "flight": f"AU {rng.randint(100, 2999)}",
            "date": flown,
            "origin": origin,
            "destination": destination,
            "hour": hour,
            "minute": minute,
            "arrive": divmod(hour * 60 + minute + length, 60),
            "seat": f"{rng.randint(1, 38)}{pick(rng, 'ABCDEF')}",
            "cabin": pick(rng, _CABIN),
            "bags": pick(rng, ("1 x 23 kg", "0 (hand baggage only)", "2 x 23 kg")),
            "fare": fare,
            "taxes": money(rng, 18, 95),
            "note": pick(rng, _TICKET_NOTES),
        }

    def render(self, v: Values) -> str:
        arrive_hour, arrive_minute = v["arrive"]
        arrive = f"{arrive_hour % 24:02d}:{arrive_minute:02d}" + ("+1" if arrive_hour >= 24 else "")
        passenger = f"{v['last'].upper().replace(' ', '')}/{v['first'].upper()} {v['title']}"
        header = f"{'FLIGHT':<9}{'DATE':<12}{'FROM':<{_CELL}}{'TO':<{_CELL}}{'DEPART':<8}ARRIVE"
        row = (
            f"{v['flight']:<9}{write_date(v['date'], 'airline'):<12}{_cell(v['origin'])}{_cell(v['destination'])}"
            f"{write_time(v['hour'], v['minute'], '24'):<8}{arrive}"
        )
        return "\n".join(
            [
                "AURELIA AIRWAYS · ELECTRONIC TICKET RECEIPT",
                "",
                f"Booking reference: {v['booking']}",
                f"Ticket number:     {v['ticket']}",
                f"Passenger:         {passenger}",
                *([f"Frequent flyer:    {v['flyer']}"] if v["flyer"] else []),
                f"Issued:            {write_date(v['issued'], 'dmy')} by aureliaair.com",
                "",
                header,
                row,
                "",
                f"Seat {v['seat']} · {v['cabin']} · Baggage {v['bags']}",
                v["note"],
                "",
                f"FARE   {write_money(v['fare'], 'code:GBP')}",
                f"TAXES  {write_money(v['taxes'], 'code:GBP')}",
                f"TOTAL  {write_money(v['fare'] + v['taxes'], 'code:GBP')}",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        arrive_hour, arrive_minute = v["arrive"]
        return {
            "booking_reference": v["booking"],
            "ticket_number": v["ticket"],
            "flight_number": v["flight"],
            "departure_airport": v["origin"][1],
            "arrival_airport": v["destination"][1],
            "departure_date": v["date"].isoformat(),
            "departure_time": f"{v['hour']:02d}:{v['minute']:02d}",
            "arrival_time": f"{arrive_hour % 24:02d}:{arrive_minute:02d}",
            "seat": v["seat"],
        }

    def envelope(self, document: str) -> dict[str, Any]:
        skeleton = json.dumps({k: "" for k in self.keys}, indent=2)
        return {
            "messages": [
                {
                    "role": "user",
                    "content": "Fill in this JSON from the e-ticket below. Airports as their "
                    "three-letter codes, the date as YYYY-MM-DD, times as HH:MM.\n\n"
                    f"{skeleton}\n\n{document}",
                }
            ]
        }
