"""Templated documents about money: a shop's order confirmation, a vendor's invoice, a bank's card
alert, a supermarket till receipt and a hotel's booking confirmation.

Each is one sender's layout, written the way that sender writes it (its date style, its currency
format, its look-alike fields); see :mod:`stepcache_bench._template_kit` for what a layout is.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from ._template_kit import (
    Edit,
    Layout,
    Lookalike,
    Move,
    Rename,
    Swap,
    Values,
    cents,
    clock,
    day,
    digits,
    money,
    number,
    person,
    pick,
    read_date,
    read_money,
    write_date,
    write_money,
    write_time,
)

__all__ = ["OrderConfirmation", "VendorInvoice", "BankAlert", "StoreReceipt", "HotelBooking"]


# -- a shop's order confirmation --------------------------------------------------------------------

_KITCHEN = (
    ("Sourdough starter kit", "24.00"),
    ("Stand mixer 5.5 qt, sage green", "449.00"),
    ("Espresso machine Duo", "1049.00"),
    ("Cast-iron Dutch oven, 6 qt", "189.95"),
    ("Linen tea towels (set of 3)", "28.50"),
    ("Bread lame with 5 blades", "14.75"),
    ('Proofing basket, 9" round', "32.00"),
    ("Maple rolling pin", "46.00"),
    ("Copper saucepan, 2 qt", "239.00"),
    ("Chef's knife 8\", walnut handle", "129.99"),
    ("Ceramic pie dish", "38.00"),
    ("Digital kitchen scale", "54.95"),
    ("Gift card", "100.00"),
    ("Pasta roller attachment", "169.00"),
    ("Beeswax food wraps", "18.00"),
)
_US_PLACES = (
    ("Springfield", "IL", "62704"),
    ("Oakland", "CA", "94607"),
    ("Austin", "TX", "78704"),
    ("Portland", "OR", "97214"),
    ("Madison", "WI", "53703"),
    ("Burlington", "VT", "05401"),
    ("Tucson", "AZ", "85719"),
    ("Raleigh", "NC", "27601"),
    ("Boulder", "CO", "80302"),
    ("Savannah", "GA", "31401"),
    ("Ann Arbor", "MI", "48104"),
    ("Santa Fe", "NM", "87501"),
    ("St. Paul", "MN", "55102"),
    ("Eugene", "OR", "97401"),
    ("New Haven", "CT", "06511"),
)
_US_STREETS = (
    "Elm Street",
    "Harbor Blvd",
    "Maple Ave",
    "Cedar Lane",
    "Lakeview Dr",
    "Oak Street",
    "Mission St",
    "Pine Ridge Rd",
    "W 4th Ave",
    "Juniper Court",
)
_GREETINGS = ("Hi", "Hello", "Dear", "Hey")
_INTROS = (
    "Thanks for shopping with us! Here's a summary of your order.",
    "Good news: we've received your order and our team is packing it now.",
    "Thank you for your order. We'll email you again as soon as it ships.",
    "Your order is in! Below are the details for your records.",
    "We're so glad you found something you love. Your order is confirmed.",
)
_NOTES = (
    "",
    "",
    'Your note to us: "Please leave the parcel with the concierge."',
    "Your note to us: \"It's a birthday present, please don't include the receipt.\"",
    "Heads up: the espresso machines ship separately from our warehouse in Reno.",
    "Members save 10% on their next order with code THANKYOU10 (valid for 30 days).",
)
_PAYMENTS = ("Visa ending {d}", "Mastercard ending {d}", "American Express ending {d}", "PayPal", "Apple Pay")


def _us_address(rng: random.Random, name: str) -> list[str]:
    city, state, zip_code = pick(rng, _US_PLACES)
    street = f"{rng.randint(2, 9899)} {pick(rng, _US_STREETS)}" + pick(rng, ("", "", f", Apt {rng.randint(1, 40)}B"))
    return [name, street, f"{city}, {state} {zip_code}"]


def _us_city(line: str) -> dict[str, Any]:
    """``{"ship_to_city", "ship_to_postcode"}`` of an address block whose last line is "City, ST 12345"."""
    city, _, rest = line.split("\n")[-1].rpartition(", ")
    return {"ship_to_city": city, "ship_to_postcode": rest.split()[-1]}


class OrderConfirmation(Layout):
    name: ClassVar[str] = "order_confirmation"
    kind: ClassVar[str] = "shop order e-mail: label/value block, | table, billing and shipping addresses"
    keys: ClassVar[tuple[str, ...]] = (
        "order_id",
        "order_date",
        "total",
        "gift_wrap",
        "ship_to_city",
        "ship_to_postcode",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Total:", ("Order total:", "Amount charged:", "Grand total:")),
        Move(r"^Total:", before=r"^Order #:"),
        Lookalike(
            r"^Total:", lambda rng: f"Gift card balance remaining: {write_money(money(rng, 5, 250), 'us')}", after=True
        ),
        Swap(
            r"^Billing address:\n.*\n(.*\n.*)$",
            r"^Shipping address:\n.*\n(.*\n.*)$",
            read_first=lambda text: {},
            read_second=_us_city,
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        first, last = person(rng)
        chosen = rng.sample(_KITCHEN, rng.randint(1, 4))
        lines = [(name, rng.choice((1, 1, 1, 2, 3)), Decimal(price)) for name, price in chosen]
        subtotal = sum((q * p for _, q, p in lines), Decimal(0))
        shipping = Decimal(0) if subtotal >= 75 else Decimal(pick(rng, ("5.95", "8.50", "12.00")))
        gift = rng.random() < 0.4
        billing = _us_address(rng, f"{first} {last}")
        if rng.random() < 0.3:
            shipping_to = list(billing)
        else:
            other_first, other_last = person(rng)
            shipping_to = _us_address(rng, f"{first} {last}" if rng.random() < 0.5 else f"{other_first} {other_last}")
        return {
            "first": first,
            "order_id": f"HC-{digits(rng, 5)}",
            "date": day(rng),
            "gift": gift,
            "lines": lines,
            "subtotal": subtotal,
            "shipping": shipping,
            "billing": billing,
            "shipping_to": shipping_to,
            "greeting": pick(rng, _GREETINGS),
            "intro": pick(rng, _INTROS),
            "note": pick(rng, _NOTES),
            "payment": pick(rng, _PAYMENTS).format(d=digits(rng, 4)),
        }

    def render(self, v: Values) -> str:
        width = max(len(n) for n, _, _ in v["lines"]) + 2
        table = [f"| {'Item'.ljust(width)} | Qty | Amount     |", f"|{'-' * (width + 2)}|-----|------------|"]
        table += [f"| {n.ljust(width)} | {q:<3} | {write_money(q * p, 'us'):<10} |" for n, q, p in v["lines"]]
        shipping = "FREE" if not v["shipping"] else write_money(v["shipping"], "us")
        return "\n".join(
            [
                f"Subject: Your Hearth & Crumb order {v['order_id']} is confirmed",
                "",
                f"{v['greeting']} {v['first']},",
                "",
                v["intro"],
                "",
                f"Order #: {v['order_id']}",
                f"Order date: {write_date(v['date'], 'mdy_long')}",
                f"Payment: {v['payment']}",
                f"Gift wrap: {'Yes' if v['gift'] else 'No'}",
                "",
                *table,
                "",
                f"Subtotal: {write_money(v['subtotal'], 'us')}",
                f"Shipping: {shipping}",
                f"Total: {write_money(v['subtotal'] + v['shipping'], 'us')}",
                "",
                "Billing address:",
                *v["billing"],
                "",
                "Shipping address:",
                *v["shipping_to"],
                "",
                *([v["note"], ""] if v["note"] else []),
                "Questions about your order? Reply to this email or call us at 1-800-555-0199.",
                "— The Hearth & Crumb team",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "order_id": v["order_id"],
            "order_date": v["date"].isoformat(),
            "total": number(v["subtotal"] + v["shipping"]),
            "gift_wrap": v["gift"],
            **_us_city(v["shipping_to"][-1]),
        }

    def envelope(self, document: str) -> dict[str, Any]:
        instruction = (
            "Extract the order details from the confirmation email below. Return JSON with keys order_id, "
            "order_date (YYYY-MM-DD), total (number, no currency sign), gift_wrap (true or false), "
            "ship_to_city, ship_to_postcode."
        )
        return {"messages": [{"role": "user", "content": f"{instruction}\n\n{document}"}]}


# -- a vendor's invoice -----------------------------------------------------------------------------

_TOOLS = (
    ("WZ-4410", "Torque wrench 40–200 Nm", "189.00"),
    ("WZ-1102", "Hex key set, 9 pcs", "24.90"),
    ("HS-2250", "Hydraulic hose DN12, 5 m", "86.40"),
    ("LG-0930", "Ball bearing 6204-2RS", "7.85"),
    ("EL-7731", "Cable drum 25 m, H07RN-F", "142.00"),
    ("PS-5500", "Pressure switch 0–16 bar", "318.50"),
    ("MS-0042", "Digital caliper 0–150 mm", "64.00"),
    ("KP-3300", "Gear pump KP 30.34", "1249.00"),
    ("SF-0815", "Safety gloves, size 10 (pair)", "4.95"),
    ("DR-6012", "Pillar drill 16 mm, 230 V", "2450.00"),
    ("SC-2030", "Screw set M8 × 30, DIN 912 (100)", "19.90"),
)
_CUSTOMERS = (
    "Nordwerk Maschinenbau GmbH",
    "Hansa Fördertechnik AG",
    "Brandt & Söhne KG",
    "Elbtal Metallbau GmbH",
    "Rheinkraft Anlagen GmbH",
    "Lüneburger Hydraulik GmbH",
    "Weserpark Logistik GmbH & Co. KG",
    "Alpina Präzisionsteile GmbH",
)
_DE_PLACES = (
    ("20457", "Hamburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("30159", "Hannover"),
    ("04109", "Leipzig"),
    ("44135", "Dortmund"),
    ("90402", "Nürnberg"),
    ("24103", "Kiel"),
)
_DE_STREETS = (
    "Lindenstraße",
    "Am Markt",
    "Bahnhofstraße",
    "Hafenweg",
    "Schillerplatz",
    "Gartenstraße",
    "Industriestraße",
    "Kanalufer",
)
_INVOICE_NOTES = (
    "Thank you for your order.",
    "Thank you for your order. Please quote the invoice number with your payment.",
    "Partial delivery: the remaining items follow with a separate delivery note.",
    "Goods remain our property until paid in full.",
    "Questions about this invoice? buchhaltung@kessler-industrie.de",
)


class VendorInvoice(Layout):
    name: ClassVar[str] = "vendor_invoice"
    kind: ClassVar[str] = "supplier invoice: aligned table, net/VAT/total lines, three dates, 1.234,50 € amounts"
    keys: ClassVar[tuple[str, ...]] = (
        "invoice_number",
        "invoice_date",
        "due_date",
        "net_amount",
        "vat_amount",
        "total",
        "currency",
    )
    additional_keys: ClassVar[bool] = False
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Invoice date:", ("Date of invoice:", "Invoice dated:")),
        Move(r"^Due date:", before=r"^All amounts in EUR"),
        Lookalike(
            r"^ +Total ",
            lambda rng: " " * 50 + "Cash discount 2 % (10 days)" + write_money(money(rng, 3, 90), "eu").rjust(14),
            after=True,
        ),
        Swap(
            r"^Invoice date: +(\S+)$",
            r"^Delivery date: +(\S+)$",
            read_first=lambda text: {"invoice_date": read_date(text, "dot")},
            read_second=lambda text: {},
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        issued = day(rng)
        terms = pick(rng, (14, 30, 30, 45))
        lines = [
            (no, text, rng.randint(1, 10) if Decimal(price) < 500 else rng.randint(1, 2), Decimal(price))
            for no, text, price in rng.sample(_TOOLS, rng.randint(1, 5))
        ]
        net = sum((q * p for _, _, q, p in lines), Decimal(0))
        postcode, city = pick(rng, _DE_PLACES)
        return {
            "customer": pick(rng, _CUSTOMERS),
            "attn": rng.random() < 0.4,
            "street": f"{pick(rng, _DE_STREETS)} {rng.randint(1, 120)}",
            "place": f"{postcode} {city}",
            "customer_no": f"K-{digits(rng, 5)}",
            "invoice_no": f"RE-{issued.year}-{digits(rng, 5)}",
            "issued": issued,
            "delivered": issued - timedelta(days=rng.randint(0, 10)),
            "due": issued + timedelta(days=terms),
            "terms": terms,
            "reference": f"PO {digits(rng, 4)}-{pick(rng, 'ABCDEFG')}",
            "lines": lines,
            "net": net,
            "vat": cents(net * Decimal("0.19")),
            "note": pick(rng, _INVOICE_NOTES),
        }

    def render(self, v: Values) -> str:
        rows = [f"{'Pos':<5}{'Article no.':<13}{'Description':<34}{'Qty':>4}{'Unit price':>15}{'Amount':>15}"]
        for pos, (no, text, qty, price) in enumerate(v["lines"], 1):
            rows.append(
                f"{pos:>3}  {no:<13}{text:<34}{qty:>4}{write_money(price, 'eu'):>15}"
                f"{write_money(qty * price, 'eu'):>15}"
            )
        total = v["net"] + v["vat"]
        pad = " " * 50
        return "\n".join(
            [
                "KESSLER INDUSTRIEBEDARF GmbH",
                "Hafenstraße 21 · 28217 Bremen · Germany",
                "Tel. +49 421 5567 300 · VAT ID DE 812 445 903",
                "",
                v["customer"],
                *(["Attn. Accounts Payable"] if v["attn"] else []),
                v["street"],
                v["place"],
                "",
                "INVOICE",
                "",
                f"Customer no.:    {v['customer_no']}",
                f"Invoice no.:     {v['invoice_no']}",
                f"Invoice date:    {write_date(v['issued'], 'dot')}",
                f"Delivery date:   {write_date(v['delivered'], 'dot')}",
                f"Due date:        {write_date(v['due'], 'dot')}",
                f"Your reference:  {v['reference']}",
                "",
                *rows,
                "",
                f"{pad}{'Net amount':<16}{write_money(v['net'], 'eu'):>16}",
                f"{pad}{'VAT 19 %':<16}{write_money(v['vat'], 'eu'):>16}",
                f"{pad}{'Total':<16}{write_money(total, 'eu'):>16}",
                "",
                f"All amounts in EUR. Payment terms: {v['terms']} days net.",
                v["note"],
                "IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "invoice_number": v["invoice_no"],
            "invoice_date": v["issued"].isoformat(),
            "due_date": v["due"].isoformat(),
            "net_amount": number(v["net"]),
            "vat_amount": number(v["vat"]),
            "total": number(v["net"] + v["vat"]),
            "currency": "EUR",
        }

    def envelope(self, document: str) -> dict[str, Any]:
        date = {"type": "string", "description": "YYYY-MM-DD"}
        schema = {
            "type": "object",
            "properties": {
                "invoice_number": {"type": "string"},
                "invoice_date": date,
                "due_date": date,
                "net_amount": {"type": "number"},
                "vat_amount": {"type": "number"},
                "total": {"type": "number"},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP", "CHF"]},
            },
            "required": list(self.keys),
            "additionalProperties": False,
        }
        return {
            "messages": [
                {
                    "role": "system",
                    "content": "You extract supplier invoices for our accounts-payable system. "
                    "Dates as YYYY-MM-DD, amounts as plain numbers.",
                },
                {"role": "user", "content": document},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "supplier_invoice", "strict": True, "schema": schema},
            },
        }


# -- a bank's card alert ----------------------------------------------------------------------------

_MERCHANTS = (
    "AMAZON MKTPLACE",
    "SHELL OIL 57442",
    "WHOLEFDS MKT #10234",
    "UBER *TRIP",
    "DELTA AIR 0062301",
    "APPLE.COM/BILL",
    "TARGET T-1187",
    "SQ *BLUE BOTTLE COFFEE",
    "NETFLIX.COM",
    "COSTCO WHSE #0479",
    "HOME DEPOT #6612",
    "CVS/PHARMACY #08812",
    "TST* LITTLE SAIGON",
)
_IF_YOURS = (
    "If you made this payment, there's nothing else you need to do. If you don't recognize it, call us right away "
    "at 1-800-555-0143 or lock your card in the Northbridge app.",
    "Recognize this payment? Great, you're all set. Don't recognize it? Lock your card in the app and call us at "
    "1-800-555-0143, day or night.",
    "No action is needed if this was you. If it wasn't, please call the number on the back of your card.",
)
_SIGN_OFFS = ("Thanks for banking with us,", "Stay safe,", "Best regards,", "Sincerely,")


def _released(rng: random.Random) -> str:
    when = write_date(day(rng), "mdy")
    amount = write_money(money(rng, 1, 900), "us")
    return f"A pending authorization of {amount} from {pick(rng, _MERCHANTS)} on {when} has been released."


class BankAlert(Layout):
    name: ClassVar[str] = "bank_alert"
    kind: ClassVar[str] = "bank card alert: prose sentences, amount and balance, MM/DD/YYYY date, 12-hour time"
    keys: ClassVar[tuple[str, ...]] = ("amount", "merchant", "card_last4", "date", "time")
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"a card payment of", ("a purchase of", "a debit card transaction of")),
        Move(r"^Your available balance", before=r"^We're letting you know", paragraph=True),
        Lookalike(r"^We're letting you know", _released, paragraph=True),
        Swap(
            r"payment of (\$[\d,]+\.\d\d) to",
            r"available balance is now (\$[\d,]+\.\d\d)",
            read_first=lambda text: {"amount": read_money(text)},
            read_second=lambda text: {},
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        amount = money(rng, 2.5, 2400, step=pick(rng, ("0.01", "0.01", "1")))
        hour, minute = clock(rng, 0, 23, 1)
        return {
            "first": person(rng)[0],
            "amount": amount,
            "merchant": pick(rng, _MERCHANTS),
            "last4": digits(rng, 4),
            "date": day(rng),
            "hour": hour,
            "minute": minute,
            "balance": money(rng, 12, 9800),
            "card": pick(rng, ("debit card", "debit card", "Visa debit card")),
            "if_yours": pick(rng, _IF_YOURS),
            "sign_off": pick(rng, _SIGN_OFFS),
        }

    def render(self, v: Values) -> str:
        return "\n".join(
            [
                f"Subject: A payment was made with your card ending {v['last4']}",
                "",
                f"Hi {v['first']},",
                "",
                f"We're letting you know that a card payment of {write_money(v['amount'], 'us')} to {v['merchant']} was "
                f"made with your {v['card']} ending {v['last4']} on {write_date(v['date'], 'mdy')} at "
                f"{write_time(v['hour'], v['minute'], '12')}.",
                "",
                f"Your available balance is now {write_money(v['balance'], 'us')}.",
                "",
                v["if_yours"],
                "",
                v["sign_off"],
                "Northbridge Bank Fraud Prevention",
                "",
                "Please don't reply to this email. Northbridge Bank, N.A. Member FDIC.",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "amount": number(v["amount"]),
            "merchant": v["merchant"],
            "card_last4": v["last4"],
            "date": v["date"].isoformat(),
            "time": f"{v['hour']:02d}:{v['minute']:02d}",
        }

    def envelope(self, document: str) -> dict[str, Any]:
        instruction = (
            "Return JSON with keys amount, merchant, card_last4, date, time for the transaction in this "
            "bank alert. amount as a number; date as YYYY-MM-DD; time as 24-hour HH:MM."
        )
        return {"messages": [{"role": "user", "content": f"{document}\n\n---\n{instruction}"}]}


# -- a supermarket till receipt ---------------------------------------------------------------------

_STORES = (
    ("0412", "1180 Valencia St", "San Francisco, CA 94110", "(415) 555-0188", Decimal("0.08625"), "8.625%"),
    ("0087", "2201 Shattuck Ave", "Berkeley, CA 94704", "(510) 555-0131", Decimal("0.1025"), "10.25%"),
    ("1133", "455 Castro St", "Mountain View, CA 94041", "(650) 555-0117", Decimal("0.09125"), "9.125%"),
    ("0256", "88 E Santa Clara St", "San Jose, CA 95113", "(408) 555-0164", Decimal("0.09375"), "9.375%"),
)
_GROCERIES = (  # name, unit price, taxable
    ("ORGANIC BANANAS", "1.29", False),
    ("OAT MILK 64OZ", "4.99", False),
    ("SOURDOUGH LOAF", "6.49", False),
    ("FREE RANGE EGGS 12CT", "5.79", False),
    ("AVOCADO HASS", "1.50", False),
    ("LIMES", "0.33", False),
    ("PAPER TOWELS 6PK", "11.99", True),
    ("DISH SOAP 22OZ", "3.49", True),
    ("SPARKLING WATER 12PK", "6.99", True),
    ("GREEK YOGURT 32OZ", "6.29", False),
    ("COFFEE BEANS 12OZ", "13.99", False),
    ("CUT FLOWERS BUNCH", "9.99", True),
    ("AA BATTERIES 8PK", "8.49", True),
    ("CHEDDAR BLOCK 8OZ", "4.49", False),
    ("KOMBUCHA GINGER", "3.99", True),
)
_RECEIPT_FOOTERS = (
    "THANK YOU FOR SHOPPING AT GREENLEAF",
    "TELL US HOW WE DID! greenleaf.com/survey",
    "RETURNS ACCEPTED WITHIN 30 DAYS WITH RECEIPT",
    "NOW HIRING - APPLY AT greenleaf.com/jobs",
)


class StoreReceipt(Layout):
    name: ClassVar[str] = "store_receipt"
    kind: ClassVar[str] = "till receipt: SUBTOTAL/TAX/TOTAL lines, tender and change, MM/DD/YY date"
    keys: ClassVar[tuple[str, ...]] = ("store_number", "date", "time", "subtotal", "tax", "total", "items_count")
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"\bTOTAL(?= {3,}\d)", ("BALANCE DUE", "AMOUNT DUE", "TOTAL DUE")),
        Move(r"^ITEMS SOLD", before=r"SUBTOTAL"),
        Lookalike(
            r"\bTOTAL(?= {3,}\d)", lambda rng: f"{'':12}{'TOTAL SAVINGS':<15}{money(rng, 0.5, 9):>8}", after=True
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        store = pick(rng, _STORES)
        lines = [
            (name, rng.choice((1, 1, 1, 1, 2, 3)), Decimal(price), taxable)
            for name, price, taxable in rng.sample(_GROCERIES, rng.randint(3, 10))
        ]
        subtotal = sum((q * p for _, q, p, _ in lines), Decimal(0))
        taxable = sum((q * p for _, q, p, t in lines if t), Decimal(0))
        tax = cents(taxable * store[4])
        total = subtotal + tax
        cash = rng.random() < 0.25
        tendered = (total // 10 + 1) * 10 if cash else total
        hour, minute = clock(rng, 7, 21, 1)
        return {
            "store": store,
            "date": day(rng),
            "hour": hour,
            "minute": minute,
            "register": rng.randint(1, 12),
            "transaction": digits(rng, 4),
            "operator": digits(rng, 3),
            "lines": lines,
            "subtotal": subtotal,
            "tax": tax,
            "cash": cash,
            "tendered": tendered,
            "card": pick(rng, ("VISA", "MC", "AMEX", "DEBIT")),
            "last4": digits(rng, 4),
            "saved": money(rng, 0.5, 6) if rng.random() < 0.5 else None,
            "footer": pick(rng, _RECEIPT_FOOTERS),
        }

    def render(self, v: Values) -> str:
        number_, street, place, phone, _, rate = v["store"]
        items: list[str] = []
        for name, qty, price, taxable in v["lines"]:
            flag = "T" if taxable else "F"
            if qty == 1:
                items.append(f"{name:<26}{price:>8} {flag}")
            else:
                items += [name, f"  {qty} @ {price:<20}{qty * price:>8} {flag}"]
        total = v["subtotal"] + v["tax"]
        tendered = v["tendered"] if v["cash"] else total
        paid = "CASH" if v["cash"] else f"{v['card']} ****{v['last4']}"
        tender = [f"{'':12}{paid:<15}{tendered:>8.2f}", f"{'':12}{'CHANGE DUE':<15}{tendered - total:>8.2f}"]
        units = sum(q for _, q, _, _ in v["lines"])
        return "\n".join(
            [
                f"GREENLEAF MARKET #{number_}".center(36).rstrip(),
                street.center(36).rstrip(),
                place.center(36).rstrip(),
                phone.center(36).rstrip(),
                "",
                f"{write_date(v['date'], 'mdy_short')} {write_time(v['hour'], v['minute'], '24')}  REG {v['register']:02d}"
                f"  TRN {v['transaction']}  OP {v['operator']}",
                "",
                *items,
                "",
                f"{'':12}{'SUBTOTAL':<15}{v['subtotal']:>8}",
                f"{'':12}{'TAX ' + rate:<15}{v['tax']:>8}",
                f"{'':12}{'TOTAL':<15}{total:>8}",
                *tender,
                "",
                f"ITEMS SOLD {units}",
                *([f"YOU SAVED ${v['saved']} WITH GREENLEAF REWARDS"] if v["saved"] is not None else []),
                "",
                v["footer"],
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "store_number": v["store"][0],
            "date": v["date"].isoformat(),
            "time": f"{v['hour']:02d}:{v['minute']:02d}",
            "subtotal": number(v["subtotal"]),
            "tax": number(v["tax"]),
            "total": number(v["subtotal"] + v["tax"]),
            "items_count": sum(q for _, q, _, _ in v["lines"]),
        }

    def envelope(self, document: str) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "system", "content": "You are a bookkeeping assistant. Answer with JSON only."},
                {
                    "role": "user",
                    "content": "Read this till receipt and return JSON with keys store_number (as printed), "
                    "date (YYYY-MM-DD), time (HH:MM), subtotal, tax, total, items_count. Numbers without currency signs."
                    f"\n\n{document}",
                },
            ]
        }


# -- a hotel's booking confirmation -----------------------------------------------------------------

_ROOMS = (
    "Deluxe Double, harbour view",
    "Superior Twin",
    "Classic Double, courtyard side",
    "Junior Suite",
    "Single Room",
    "Family Room (2 + 2)",
)
_HOTEL_INTROS = (
    "Thank you for choosing the Harbourview Hotel. We are delighted to confirm your reservation.",
    "Thank you for booking directly with us. Please find your reservation details below.",
    "Obrigado! Your stay at the Harbourview Hotel is confirmed.",
    "We're happy to confirm your upcoming stay. Please keep this email for your records.",
)
_REQUESTS = (
    "",
    "",
    "Special requests: high floor if possible (subject to availability).",
    "Special requests: late arrival, around 23:30.",
    "Special requests: baby cot in the room.",
    "Special requests: we are celebrating our anniversary.",
)


def _deposit(rng: random.Random) -> str:
    return f"Deposit paid: {write_money(money(rng, 50, 400, step='10'), 'eur')} (charged to your card on booking)"


class HotelBooking(Layout):
    name: ClassVar[str] = "hotel_booking"
    kind: ClassVar[str] = "hotel confirmation: arrival and departure dates, rate vs total, breakfast in words"
    keys: ClassVar[tuple[str, ...]] = (
        "confirmation_number",
        "guest_name",
        "check_in",
        "check_out",
        "nights",
        "total_price",
        "breakfast_included",
    )
    edits: ClassVar[tuple[Edit, ...]] = (
        Rename(r"^Arrival:", ("Check-in:", "Arrival date:")),
        Move(r"^Total price:", before=r"^Confirmation number:"),
        Lookalike(r"^Total price:", _deposit, after=True),
        Swap(
            r"^Rate: (€[\d,]+\.\d\d)",
            r"^Total price: (€[\d,]+\.\d\d)",
            read_first=lambda text: {},
            read_second=lambda text: {"total_price": read_money(text)},
        ),
    )

    def sample(self, rng: random.Random) -> Values:
        first, last = person(rng)
        arrival = day(rng)
        nights = rng.choice((1, 2, 2, 3, 3, 4, 5, 7))
        return {
            "title": pick(rng, ("Ms", "Mr", "Mx", "Dr")),
            "first": first,
            "last": last,
            "confirmation": digits(rng, 8),
            "arrival": arrival,
            "nights": nights,
            "room": pick(rng, _ROOMS),
            "adults": rng.randint(1, 3),
            "rate": money(rng, 89, 310, step="0.5"),
            "breakfast": pick(rng, ("Included", "Not included", "Not included (available at €18.00 per person)")),
            "intro": pick(rng, _HOTEL_INTROS),
            "request": pick(rng, _REQUESTS),
        }

    def render(self, v: Values) -> str:
        departure = v["arrival"] + timedelta(days=v["nights"])
        adults = f"{v['adults']} adult" + ("s" if v["adults"] > 1 else "")
        return "\n".join(
            [
                f"Subject: Booking confirmation {v['confirmation']} – Harbourview Hotel Lisbon",
                "",
                f"Dear {v['title']} {v['last']},",
                "",
                v["intro"],
                "",
                f"Confirmation number: {v['confirmation']}",
                f"Guest name: {v['first']} {v['last']}",
                f"Arrival: {write_date(v['arrival'], 'weekday')} (check-in from 15:00)",
                f"Departure: {write_date(departure, 'weekday')} (check-out until 11:00)",
                f"Nights: {v['nights']}",
                f"Room: {v['room']}",
                f"Guests: {adults}",
                f"Rate: {write_money(v['rate'], 'eur')} per night",
                f"Total price: {write_money(v['rate'] * v['nights'], 'eur')} (VAT included; city tax of €2.00 per person "
                "per night is payable at the hotel)",
                f"Breakfast: {v['breakfast']}",
                f"Cancellation: free of charge until {write_date(v['arrival'] - timedelta(days=2), 'dmy_long')}, 18:00 "
                "(hotel time)",
                "",
                *([v["request"], ""] if v["request"] else []),
                "We look forward to welcoming you.",
                "",
                "Harbourview Hotel",
                "Rua do Cais 17",
                "1200-109 Lisboa",
                "Portugal",
            ]
        )

    def expected(self, v: Values) -> dict[str, Any]:
        return {
            "confirmation_number": v["confirmation"],
            "guest_name": f"{v['first']} {v['last']}",
            "check_in": v["arrival"].isoformat(),
            "check_out": (v["arrival"] + timedelta(days=v["nights"])).isoformat(),
            "nights": v["nights"],
            "total_price": number(v["rate"] * v["nights"]),
            "breakfast_included": v["breakfast"] == "Included",
        }

    def envelope(self, document: str) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "role": "system",
                    "content": "Return a JSON object for the hotel booking with: confirmation_number, "
                    "guest_name, check_in and check_out (YYYY-MM-DD), nights (integer), total_price (number) and "
                    "breakfast_included (true/false).",
                },
                {"role": "user", "content": document},
            ],
            "response_format": {"type": "json_object"},
        }
