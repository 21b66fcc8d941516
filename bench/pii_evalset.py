"""A labelled PII evaluation set for the omni-channel retail domain, generated at a fixed seed.

Sentences come from templates of five channels (support chat, order notes, CRM exports, POS
receipts, app events). Every slot is filled by Faker (or by a checksum-correct generator for
Omnishop's own identifiers) and its exact ``[start, end)`` span is recorded as the text is
built, so the labels are true by construction, not copied from any detector.

Hard cases on purpose:

* names that are also common words (Will Baker, Grace Long, Rose Hill, June King);
* phone numbers of ten countries, in national, international and E.164 formats (only numbers
  ``phonenumbers`` deems valid for their country: a random digit string is not a phone number);
* IBANs of six countries, compact and in groups of four; card numbers of four schemes, bare,
  in groups with spaces and with dashes;
* machine-ish text (semicolon CRM rows, JSON app events, receipts in capitals).

Tables (``tables()``) are 20 small tables of the same domain, each column labelled with the PII
types a steward would give it (``[]`` for none).

``python bench/pii_evalset.py --dump DIR`` writes ``sentences.jsonl`` and ``tables/*.csv`` with
``labels.json`` for inspection.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker

from governance.pii.checksums import luhn_check_digit, mod11_check_digit

SEED = 20261128

# names that are also ordinary English words: the hard part for NER
WORD_FIRST = [
    "Will", "Hope", "Grace", "Bill", "Rose", "Mark", "June", "Amber", "Jack", "Summer", "Dawn",
    "Faith", "Joy", "Penny", "Sandy", "Chase", "Hunter", "Iris", "Ruby", "Hazel", "Frank", "Drew",
]  # fmt: skip
WORD_LAST = [
    "Baker", "Brown", "Cook", "Long", "Young", "King", "Wood", "Hill", "Price", "Bell", "Hall",
    "Stone", "Rice", "Moss", "Fox", "Gray", "Park", "Lane", "Banks", "Marsh", "Church", "Field",
]  # fmt: skip

PHONE_LOCALES = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "es_ES": "ES",
    "it_IT": "IT",
    "nl_NL": "NL",
    "en_IN": "IN",
    "pt_BR": "BR",
    "en_AU": "AU",
}
IBAN_LOCALES = ["de_DE", "fr_FR", "nl_NL", "es_ES", "en_GB", "it_IT"]
CARD_TYPES = ["visa16", "mastercard", "amex", "discover"]

# entity types the quality bench scores; LOCATION is labelled too but has no target
ENTITIES = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "LOCATION",
    "LOYALTY_CARD",
    "CUSTOMER_ID",
    "ORDER_NUMBER",
]


@dataclass
class Span:
    entity_type: str
    start: int
    end: int
    text: str


@dataclass
class Example:
    channel: str
    text: str
    spans: list[Span] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "text": self.text,
            "spans": [s.__dict__ for s in self.spans],
        }


class Values:
    """Slot fillers: each returns a string that is exactly one entity."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker(["en_US", *(k for k in PHONE_LOCALES if k != "en_US")])
        self.fake.seed_instance(seed)
        self.us = self.fake["en_US"]

    def person(self) -> str:
        r = self.rng.random()
        if r < 0.25:  # a name made of common words
            return f"{self.rng.choice(WORD_FIRST)} {self.rng.choice(WORD_LAST)}"
        locale = self.rng.choice(["en_US", "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"])
        f = self.fake[locale]
        return f"{f.first_name()} {f.last_name()}"

    def email(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            first, last = self.us.first_name().lower(), self.us.last_name().lower()
            return f"{first}.{last}+{self.rng.choice(['promo', 'shop', 'returns'])}@{self.us.free_email_domain()}"
        if r < 0.5:
            return str(self.us.company_email())
        return str(self.us.email())

    def phone(self) -> str:
        locale = self.rng.choice(list(PHONE_LOCALES))
        region = PHONE_LOCALES[locale]
        while True:
            raw = self.fake[locale].phone_number()
            try:
                number = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if number.extension or not phonenumbers.is_valid_number(number):
                continue
            fmt = self.rng.choice(
                [
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.E164,
                ]
            )
            return phonenumbers.format_number(number, fmt)

    def card(self) -> str:
        kind = self.rng.choice(CARD_TYPES)
        digits = str(self.us.credit_card_number(card_type=kind))
        style = self.rng.choice(["bare", "spaces", "dashes"])
        if style == "bare":
            return digits
        sep = " " if style == "spaces" else "-"
        if len(digits) == 15:  # amex: 4-6-5
            return sep.join([digits[:4], digits[4:10], digits[10:]])
        return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))

    def iban(self) -> str:
        value = str(self.fake[self.rng.choice(IBAN_LOCALES)].iban())
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ssn(self) -> str:
        return str(self.us.ssn())

    def ip(self) -> str:
        return str(self.us.ipv4_public() if self.rng.random() < 0.7 else self.us.ipv6())

    def city(self) -> str:
        # Faker's US and UK towns are invented ("Port Janetchester"), its German, Spanish and
        # Dutch ones real (and mostly small: hard for NER)
        locale = self.rng.choice(["en_US", "en_GB", "de_DE", "es_ES", "nl_NL"])
        return str(self.fake[locale].city())

    def state(self) -> str:
        return str(self.us.state())

    def loyalty(self) -> str:
        digits = f"{self.rng.randrange(10**9):09d}"
        full = digits + luhn_check_digit(digits)
        return f"OMC-{full[:4]}-{full[4:7]}-{full[7:]}"

    def customer_id(self) -> str:
        return f"CU{self.rng.randrange(10**7, 10**8)}"

    def order_number(self) -> str:
        digits = f"{self.rng.randrange(10**9):09d}"
        return f"ORD-{digits}{mod11_check_digit(digits)}"

    def filler(self, slot: str) -> Callable[[], str]:
        return {
            "PERSON": self.person,
            "EMAIL_ADDRESS": self.email,
            "PHONE_NUMBER": self.phone,
            "CREDIT_CARD": self.card,
            "IBAN_CODE": self.iban,
            "US_SSN": self.ssn,
            "IP_ADDRESS": self.ip,
            "LOCATION": self.city,
            "LOYALTY_CARD": self.loyalty,
            "CUSTOMER_ID": self.customer_id,
            "ORDER_NUMBER": self.order_number,
        }[slot]


TEMPLATES: dict[str, list[str]] = {
    "support_chat": [
        "Hi, this is {PERSON}. My email is {EMAIL_ADDRESS} and my order {ORDER_NUMBER} never arrived.",
        "Agent {PERSON}: I have updated your phone number to {PHONE_NUMBER}.",
        "customer: the card {CREDIT_CARD} was charged twice, can you refund it?",
        "Please send the refund to my IBAN {IBAN_CODE}, account holder {PERSON}.",
        "For verification I gave my SSN {US_SSN} to your colleague {PERSON} yesterday.",
        "You can reach me on {PHONE_NUMBER} after 5pm, thanks!",
        "{PERSON} asked whether loyalty card {LOYALTY_CARD} still has points.",
        "Chat transferred from {PERSON} to {PERSON}; customer id {CUSTOMER_ID}.",
        "I never got the confirmation at {EMAIL_ADDRESS}, could you resend it?",
        "My new address is in {LOCATION}, please update the account of {EMAIL_ADDRESS}.",
        "hey its {PERSON} again, card ending {CREDIT_CARD} got declined",
        "Can {PERSON} call me back on {PHONE_NUMBER} about the return?",
    ],
    "order_note": [
        "Deliver to {PERSON} at the back door, call {PHONE_NUMBER} on arrival.",
        "Gift for {PERSON}; receipt to {EMAIL_ADDRESS}, no prices on the slip.",
        "Leave with neighbour {PERSON} if nobody answers. Order {ORDER_NUMBER}.",
        "Customer {CUSTOMER_ID} paid by transfer from {IBAN_CODE}.",
        "Collect in store in {LOCATION}; contact {PHONE_NUMBER}.",
        "Fragile! Recipient {PERSON}, phone {PHONE_NUMBER}, email {EMAIL_ADDRESS}.",
        "Replacement for order {ORDER_NUMBER}, charged to card {CREDIT_CARD}.",
        "{PERSON} will pick up the order tomorrow morning.",
    ],
    "crm_export": [
        "{CUSTOMER_ID};{PERSON};{EMAIL_ADDRESS};{PHONE_NUMBER};{LOCATION}",
        "{CUSTOMER_ID},{EMAIL_ADDRESS},{PHONE_NUMBER},opted_in=true",
        "id={CUSTOMER_ID} name={PERSON} iban={IBAN_CODE}",
        "{PERSON} <{EMAIL_ADDRESS}> | segment: high value | city: {LOCATION}",
        "lead {CUSTOMER_ID} owner {PERSON} phone {PHONE_NUMBER}",
        "Contact: {PERSON}, Email: {EMAIL_ADDRESS}, SSN: {US_SSN}",
    ],
    "pos_receipt": [
        "STORE 0412 {LOCATION} | CARD {CREDIT_CARD} | LOYALTY {LOYALTY_CARD}",
        "Cashier: {PERSON}   Card: {CREDIT_CARD}   Total: 84.20 EUR",
        "RECEIPT 2291 - member {LOYALTY_CARD} - points earned 42",
        "Refund to card {CREDIT_CARD} approved by supervisor {PERSON}.",
        "Thank you for shopping with us, {PERSON}! Receipt sent to {EMAIL_ADDRESS}.",
    ],
    "app_event": [
        '{{"event": "login", "user": "{EMAIL_ADDRESS}", "ip": "{IP_ADDRESS}"}}',
        '{{"event": "checkout", "customer": "{CUSTOMER_ID}", "ip": "{IP_ADDRESS}", "total": 59.9}}',
        "2026-11-20T10:22:31Z INFO session start user={EMAIL_ADDRESS} remote_addr={IP_ADDRESS}",
        '{{"event": "profile_update", "phone": "{PHONE_NUMBER}", "name": "{PERSON}"}}',
        "push token registered from {IP_ADDRESS} for {CUSTOMER_ID}",
        "WARN payment retry card={CREDIT_CARD} order={ORDER_NUMBER} ip={IP_ADDRESS}",
    ],
}

SLOT = re.compile(r"\{([A-Z_]+)\}")


def fill(template: str, channel: str, values: Values) -> Example:
    text, spans, pos = "", [], 0
    # {{ and }} are literal braces (JSON templates); slots are {TYPE}
    literal = template.replace("{{", "\0").replace("}}", "\1")
    for m in SLOT.finditer(literal):
        text += literal[pos : m.start()].replace("\0", "{").replace("\1", "}")
        value = values.filler(m.group(1))()
        spans.append(Span(m.group(1), len(text), len(text) + len(value), value))
        text += value
        pos = m.end()
    text += literal[pos:].replace("\0", "{").replace("\1", "}")
    return Example(channel, text, spans)


def sentences(n: int = 400, seed: int = SEED) -> list[Example]:
    """``n`` labelled sentences, the channels in turn, at a fixed seed."""
    values = Values(seed)
    rng = random.Random(seed + 1)
    channels = list(TEMPLATES)
    out = []
    for i in range(n):
        channel = channels[i % len(channels)]
        out.append(fill(rng.choice(TEMPLATES[channel]), channel, values))
    return out


# ---- tables -------------------------------------------------------------------------------


@dataclass
class TableCase:
    name: str
    columns: dict[str, list[Any]]
    labels: dict[str, list[str]]


def _column_makers(values: Values) -> dict[str, tuple[list[str], Callable[[int], Any]]]:
    """Column kinds: the labels a steward gives them, and a generator per row."""
    rng = values.rng
    f = values.us
    statuses = ["paid", "shipped", "returned", "cancelled", "delivered"]
    return {
        "email": (["EMAIL_ADDRESS"], lambda i: values.email()),
        "phone": (["PHONE_NUMBER"], lambda i: values.phone()),
        "card": (["CREDIT_CARD"], lambda i: values.card()),
        "iban": (["IBAN_CODE"], lambda i: values.iban()),
        "ssn": (["US_SSN"], lambda i: values.ssn()),
        "ip": (["IP_ADDRESS"], lambda i: values.ip()),
        "person": (["PERSON"], lambda i: values.person()),
        "city": (["LOCATION"], lambda i: values.city()),
        "state": (["LOCATION"], lambda i: values.state()),
        "loyalty": (["LOYALTY_CARD"], lambda i: values.loyalty()),
        "customer_id": (["CUSTOMER_ID"], lambda i: values.customer_id()),
        "order_number": (["ORDER_NUMBER"], lambda i: values.order_number()),
        "birth_date": (["DATE_TIME"], lambda i: f.date_of_birth(minimum_age=18).isoformat()),
        "ts": ([], lambda i: f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"),
        "amount": ([], lambda i: round(rng.uniform(1, 500), 2)),
        "qty": ([], lambda i: rng.randint(1, 12)),
        "sku": ([], lambda i: f"SKU-{rng.randrange(10**5):05d}"),
        "status": ([], lambda i: rng.choice(statuses)),
        "store_code": ([], lambda i: f"ST{rng.randrange(1, 300):03d}"),
        "event_type": ([], lambda i: rng.choice(["login", "view", "add_to_cart", "checkout"])),
        "note": (
            ["FREE_TEXT"],
            lambda i: (
                fill(
                    rng.choice(TEMPLATES["support_chat"] + TEMPLATES["order_note"]), "note", values
                ).text
            ),
        ),
        "comment": ([], lambda i: rng.choice(_PLAIN_COMMENTS)),
        "channel": ([], lambda i: rng.choice(["web", "app", "pos", "call_centre", "crm"])),
    }


_PLAIN_COMMENTS = [
    "Parcel arrived damaged, replacement sent the same day.",
    "Customer prefers delivery in the afternoon next time.",
    "Size exchange requested for the winter jacket order.",
    "Item out of stock, offered a voucher instead of waiting.",
    "Returned unopened within the thirty day window, full refund.",
]

# name: [(column name as it appears, kind)] - some names say what they hold, some do not
TABLE_SPECS: dict[str, list[tuple[str, str]]] = {
    "crm_customers": [
        ("customer_id", "customer_id"), ("full_name", "person"), ("email", "email"),
        ("phone", "phone"), ("city", "city"), ("signup_ts", "ts"),
    ],
    "crm_leads": [
        ("lead_ref", "customer_id"), ("contact", "email"), ("owner", "person"),
        ("channel", "channel"), ("score", "amount"),
    ],
    "pos_receipts": [
        ("receipt_no", "sku"), ("store", "store_code"), ("pan", "card"),
        ("member_card", "loyalty"), ("total", "amount"), ("cashier", "person"),
    ],
    "pos_refunds": [
        ("refund_id", "sku"), ("card_number", "card"), ("amount", "amount"),
        ("approved_by", "person"), ("created_at", "ts"),
    ],
    "web_orders": [
        ("order_no", "order_number"), ("buyer_email", "email"), ("ship_to_city", "city"),
        ("qty", "qty"), ("status", "status"), ("order_ts", "ts"),
    ],
    "app_events": [
        ("event_type", "event_type"), ("user", "email"), ("remote_addr", "ip"),
        ("ts", "ts"),
    ],
    "app_sessions": [
        ("session", "sku"), ("source", "ip"), ("customer", "customer_id"),
        ("started", "ts"),
    ],
    "support_tickets": [
        ("ticket", "sku"), ("customer_id", "customer_id"), ("body", "note"),
        ("status", "status"),
    ],
    "support_agents": [
        ("agent_name", "person"), ("desk_phone", "phone"), ("site", "city"),
    ],
    "payments_sepa": [
        ("debtor", "person"), ("debtor_iban", "iban"), ("amount_eur", "amount"),
        ("booked", "ts"),
    ],
    "payouts": [
        ("beneficiary", "person"), ("account", "iban"), ("amount", "amount"),
    ],
    "us_tax_forms": [
        ("taxpayer", "person"), ("tin", "ssn"), ("state", "state"), ("filed", "ts"),
    ],
    "loyalty_members": [
        ("card", "loyalty"), ("member", "person"), ("mail", "email"), ("birth_date", "birth_date"),
    ],
    "call_centre_log": [
        ("caller_number", "phone"), ("agent", "person"), ("notes", "note"), ("duration_s", "qty"),
    ],
    "delivery_slots": [
        ("order_ref", "order_number"), ("recipient", "person"), ("mobile", "phone"),
        ("city", "city"), ("slot", "ts"),
    ],
    "marketing_optins": [
        ("email_address", "email"), ("channel", "channel"), ("opted_in_at", "ts"),
    ],
    "fraud_signals": [
        ("ip_address", "ip"), ("card", "card"), ("score", "amount"), ("decision", "status"),
    ],
    "product_reviews": [
        ("sku", "sku"), ("rating", "qty"), ("comment", "comment"), ("reviewer", "person"),
    ],
    "inventory": [
        ("sku", "sku"), ("store", "store_code"), ("on_hand", "qty"), ("price", "amount"),
    ],
    "returns": [
        ("order_number", "order_number"), ("reason", "comment"), ("refund_iban", "iban"),
        ("contact_phone", "phone"), ("customer_ssn", "ssn"),
    ],
}  # fmt: skip


def tables(rows: int = 300, seed: int = SEED) -> list[TableCase]:
    values = Values(seed + 2)
    makers = _column_makers(values)
    out = []
    for name, spec in TABLE_SPECS.items():
        columns: dict[str, list[Any]] = {}
        labels: dict[str, list[str]] = {}
        for column, kind in spec:
            label, make = makers[kind]
            columns[column] = [make(i) for i in range(rows)]
            labels[column] = list(label)
        out.append(TableCase(name, columns, labels))
    return out


def iter_spans(examples: list[Example]) -> Iterator[tuple[int, Span]]:
    for i, e in enumerate(examples):
        for s in e.spans:
            yield i, s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, required=True)
    args = parser.parse_args()
    import pandas as pd

    args.dump.mkdir(parents=True, exist_ok=True)
    with (args.dump / "sentences.jsonl").open("w") as out:
        for e in sentences():
            out.write(json.dumps(e.public()) + "\n")
    (args.dump / "tables").mkdir(exist_ok=True)
    labels = {}
    for t in tables():
        pd.DataFrame(t.columns).to_csv(args.dump / "tables" / f"{t.name}.csv", index=False)
        labels[t.name] = t.labels
    (args.dump / "tables" / "labels.json").write_text(json.dumps(labels, indent=2))
    print(f"wrote {args.dump}")


if __name__ == "__main__":
    main()
