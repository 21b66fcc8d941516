"""A second labelled PII evaluation set, built apart from the first, to compare with plain Presidio.

The first set (``pii_evalset.py``) was written together with the analyzer's rules and rewards
them. This one was not, and it is mostly text the service should leave alone. Two halves:

* ``general``: presidio-evaluator's 210 sentence templates (banking chat, addresses, e-mail
  signatures, news, music reviews; vendored in ``pii_evalset2_templates.py``), filled with Faker
  at a fixed seed in the value formats that package uses. Its phone formats are digit patterns
  (``###-###-####x###``, ``07700 ######``, ``+41 (0)3# ### ## ##`` ...), so some are numbers no
  country issues; they are labelled phone numbers all the same, as that package labels them.
* ``retail_ops``: store, warehouse and support-desk lines in another style, most of them
  negatives: SKUs, invoice, purchase-order, tracking, RMA, lot and serial numbers, barcodes,
  dates, prices, product names, the words SSN, IBAN, PIN or Callback in prose, capitalised
  words at the start of a sentence, and role words before things that are not names
  ("Dear Valued Customer"). Among them the positives such text carries: phone numbers after
  unusual context ("Text the pickup code to ..."), bare CSV rows, NHS numbers with their label,
  names at the start of a sentence.

Labels are Presidio's entity types, and every span is recorded as the text is built, so labels
are true by construction. Personal data of a kind Presidio has no type for (street addresses,
ages, job titles, post codes, honorifics) is recorded as an ``IGNORED`` region: what a detector
reports inside one counts neither as a hit nor as a false positive. Any reported type outside
``ENTITIES`` is a false positive: the set holds no such entity.

    python bench/pii_evalset2.py --dump DIR    # writes sentences2.jsonl for inspection
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import phonenumbers
from faker import Faker
from pii_evalset import Example, Span
from pii_evalset2_templates import PRESIDIO_EVALUATOR_TEMPLATES

SEED = 1402_2027

IGNORED = "IGNORED"

# the entity types this set labels; a finding of any other type is a false positive here
ENTITIES = [
    "PERSON",
    "ORGANIZATION",
    "LOCATION",
    "NRP",
    "DATE_TIME",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "US_DRIVER_LICENSE",
    "UK_NHS",
]

# presidio-evaluator's phone formats (faker_extensions/providers.py, PhoneNumberProviderNew)
EVALUATOR_PHONE_FORMATS = [
    "##########", "###-###-####", "###-#######",
    "07700 ### ###", "07700 ######", "07700######", "(07700) ### ###", "(07700) ######",
    "+447700 ### ###", "+447700 ######", "+447700######",
    "+91##########", "0##########",
    "+41 2# ### ## ##", "+41 4# ### ## ##", "+41 7# ### ## ##", "+41 (0)3# ### ## ##",
    "+46 (0)8 ### ### ##", "+46 (0)## ## ## ##",
    "(###)###-####", "###.###.####",
    "###-###-####x###", "(###)###-####x####", "###.###.####x###",
    "+1-###-###-####", "001-###-###-####", "+1-###-###-####x###",
]  # fmt: skip

NATIONALITIES = [
    "American", "British", "French", "German", "Italian", "Spanish", "Dutch", "Irish",
    "Canadian", "Mexican", "Brazilian", "Indian", "Japanese", "Chinese", "Korean", "Nigerian",
    "Kenyan", "Egyptian", "Turkish", "Greek", "Polish", "Swedish", "Norwegian", "Australian",
]  # fmt: skip
NATION_WOMEN = ["an Irishwoman", "a Frenchwoman", "an Englishwoman", "a Dutchwoman", "a Scotswoman"]
NATION_PLURALS = ["Americans", "Canadians", "Italians", "Germans", "Mexicans", "Australians"]

# regions for phone numbers that phonenumbers deems valid, national or international format
PHONE_REGIONS = {"en_US": "US", "en_GB": "GB", "en_IE": "IE", "es_ES": "ES", "it_IT": "IT",
                 "nl_NL": "NL", "en_AU": "AU", "de_DE": "DE", "fr_FR": "FR", "en_CA": "CA"}  # fmt: skip

PRODUCTS = [
    "Aurora Desk Lamp", "TrailMaster 500 Boots", "Nimbus X2 Headphones", "Everyday Cotton Tee",
    "Harbor Rain Jacket", "Summit 30L Backpack", "Cedar Coffee Table", "Polar Fleece Throw",
    "Swift Runner 3", "Velvet Matte Lipstick", "Orchard Apple Juice 1L", "Granite Frying Pan",
    "Kids Rainbow Wellies", "Atlas Office Chair", "Lumen Smart Bulb", "Marble Chess Set",
]  # fmt: skip
CARRIERS = ["UPS", "FedEx", "DHL", "USPS", "Royal Mail", "DPD", "PostNL"]
# capitalised words that start a sentence in store and desk notes and are nobody's name
OPENERS = [
    "Callback", "Pickup", "Refunds", "Delivery", "Returns", "Warranty", "Checkout", "Restock",
    "Markdown", "Clearance", "Layaway", "Backorder", "Preorder", "Curbside", "Handover",
    "Escalation", "Chargeback", "Replenishment", "Shrinkage", "Onboarding",
]  # fmt: skip
# what a desk note calls a thing that is not a person, after a word our rules treat as a role
NOT_NAMES = [
    "Valued Customer", "Customer Service", "Support Team", "Returns Desk", "Store Manager",
    "Loyalty Team", "Account Holder", "Gift Card", "Help Centre", "Click And Collect",
]  # fmt: skip


class Values2:
    """Slot fillers for both halves: each returns ``(text, label)``; label None = no entity."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker(list(PHONE_REGIONS))
        self.fake.seed_instance(seed)
        self.us = self.fake["en_US"]

    def digits(self, pattern: str) -> str:
        return "".join(str(self.rng.randrange(10)) if c == "#" else c for c in pattern)

    def _cased(self, name: str) -> str:
        # presidio-evaluator writes 5% of names in lower case (lower_case_ratio=0.05)
        return name.lower() if self.rng.random() < 0.05 else name

    def full_name(self) -> str:
        locale = self.rng.choice(["en_US", "en_US", "en_US", "en_GB", "en_IE", "es_ES", "it_IT"])
        f = self.fake[locale]
        return self._cased(f"{f.first_name()} {f.last_name()}")

    def first_name(self) -> str:
        return self._cased(str(self.us.first_name()))

    def last_name(self) -> str:
        return self._cased(str(self.us.last_name()))

    def city(self) -> str:
        # Faker's US towns are invented, its Spanish and Dutch ones real (its Italian city provider
        # draws from a set, so its choice changes with PYTHONHASHSEED)
        locale = self.rng.choice(["en_US", "en_US", "es_ES", "nl_NL", "en_GB"])
        return str(self.fake[locale].city())

    def date_time(self) -> str:
        # fixed bounds: Faker's relative ones ("-30y") move with the clock, and so would the set
        moment = self.us.date_time_between(
            start_date=datetime(1995, 1, 1), end_date=datetime(2027, 1, 1)
        )
        fmt = self.rng.choice(
            ["%B %d, %Y", "%d %B %Y", "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%b %d %Y %H:%M"]
        )
        return moment.strftime(fmt)

    def card(self) -> str:
        digits = str(self.us.credit_card_number())
        if self.rng.random() < 0.3 and len(digits) == 16:
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))
        return digits

    def evaluator_phone(self) -> str:
        return self.digits(self.rng.choice(EVALUATOR_PHONE_FORMATS))

    def valid_phone(self, regions: list[str]) -> str:
        locale = self.rng.choice(regions)
        while True:
            raw = self.fake[locale].phone_number()
            try:
                number = phonenumbers.parse(raw, PHONE_REGIONS[locale])
            except phonenumbers.NumberParseException:
                continue
            if number.extension or not phonenumbers.is_valid_number(number):
                continue
            fmt = self.rng.choice(
                [
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                ]
            )
            return phonenumbers.format_number(number, fmt)

    def us_phone_dashed(self) -> str:
        """A valid North American number written 3-3-4 with dashes, as US forms do."""
        while True:
            text = self.digits(self.rng.choice(["###-###-####", "(###) ###-####", "###.###.####"]))
            try:
                number = phonenumbers.parse(text, "US")
            except phonenumbers.NumberParseException:  # "011-..." reads as a dialling prefix
                continue
            if phonenumbers.is_valid_number(number):
                return text

    def nhs(self) -> str:
        while True:
            nine = [self.rng.randrange(10) for _ in range(9)]
            check = 11 - sum(d * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
            if check == 10:
                continue
            digits = "".join(map(str, nine)) + str(0 if check == 11 else check)
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"

    def driver_license(self) -> str:
        return self.digits(
            self.rng.choice(["A#######", "D###-####-####", "#########", "S##-###-####"])
        )

    # ---- negatives of the retail half ----
    def sku(self) -> str:
        return self.digits(
            self.rng.choice(
                ["####-####-##", "SKU-#####", "##-####-####", "###-###-###", "#####-###"]
            )
        )

    def invoice(self) -> str:
        year = self.rng.choice(["2024", "2025", "2026"])
        return self.digits(
            self.rng.choice(
                [f"INV-{year}-######", f"INV/{year}/#####", f"{year}-######", "IN-########"]
            )
        )

    def po_number(self) -> str:
        return self.digits(
            self.rng.choice(["PO-45########", "#10#######", "SO-2026-######", "##########"])
        )

    def tracking(self) -> str:
        alnum = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
        return self.rng.choice(
            [
                "1Z" + "".join(self.rng.choice(alnum) for _ in range(16)),
                self.digits("9400 #### #### #### #### ##"),
                self.digits("#### #### ####"),
                self.digits("JJD00########"),
                self.digits("AB#########GB"),
            ]
        )

    def barcode(self) -> str:
        return self.digits(self.rng.choice(["#############", "############", "5 ###### ######"]))

    def price(self) -> str:
        return self.rng.choice(["$", "EUR ", "£", "USD "]) + f"{self.rng.uniform(1, 2500):,.2f}"


Filler = Callable[[Values2], tuple[str, str | None]]


def _f(label: str | None, make: Callable[[Values2], str]) -> Filler:
    return lambda v: (make(v), label)


FILLERS: dict[str, Filler] = {
    # presidio-evaluator's providers, by their names in the templates
    "person": _f("PERSON", Values2.full_name),
    "name": _f("PERSON", Values2.full_name),
    "name_male": _f("PERSON", lambda v: v._cased(f"{v.us.first_name_male()} {v.us.last_name()}")),
    "name_female": _f("PERSON", lambda v: v._cased(f"{v.us.first_name_female()} {v.us.last_name()}")),
    "first_name": _f("PERSON", Values2.first_name),
    "first_name_male": _f("PERSON", lambda v: v._cased(str(v.us.first_name_male()))),
    "first_name_female": _f("PERSON", lambda v: v._cased(str(v.us.first_name_female()))),
    "first_name_nonbinary": _f("PERSON", lambda v: v._cased(str(v.us.first_name_nonbinary()))),
    "last_name": _f("PERSON", Values2.last_name),
    "last_name_male": _f("PERSON", Values2.last_name),
    "last_name_female": _f("PERSON", Values2.last_name),
    "organization": _f("ORGANIZATION", lambda v: str(v.us.company())),
    "city": _f("LOCATION", Values2.city),
    "country": _f("LOCATION", lambda v: str(v.us.country())),
    "state_abbr": _f("LOCATION", lambda v: str(v.us.state_abbr())),
    "address": _f(IGNORED, lambda v: str(v.us.address()).replace("\n", ", ")),
    "street_name": _f(IGNORED, lambda v: str(v.us.street_name())),
    "building_number": _f(IGNORED, lambda v: str(v.us.building_number())),
    "secondary_address": _f(IGNORED, lambda v: str(v.us.secondary_address())),
    "postcode": _f(IGNORED, lambda v: str(v.fake["en_GB"].postcode())),
    "zipcode": _f(IGNORED, lambda v: str(v.us.zipcode())),
    "age": _f(IGNORED, lambda v: str(v.rng.randrange(18, 95))),
    "job": _f(IGNORED, lambda v: str(v.us.job())),
    "prefix": _f(IGNORED, lambda v: str(v.us.prefix())),
    "prefix_male": _f(IGNORED, lambda v: str(v.us.prefix_male())),
    "prefix_female": _f(IGNORED, lambda v: str(v.us.prefix_female())),
    "date_time": _f("DATE_TIME", Values2.date_time),
    "date_of_birth": _f("DATE_TIME", lambda v: v.us.date_between(date(1940, 1, 1), date(2007, 12, 31)).strftime(v.rng.choice(["%B %d, %Y", "%m/%d/%Y", "%d.%m.%Y"]))),
    "day_of_week": _f("DATE_TIME", lambda v: v.rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])),
    "year": _f("DATE_TIME", lambda v: str(v.rng.randrange(1950, 2027))),
    "nationality": _f("NRP", lambda v: v.rng.choice(NATIONALITIES)),
    "nation_woman": _f("NRP", lambda v: v.rng.choice(NATION_WOMEN)),
    "nation_man": _f("NRP", lambda v: v.rng.choice(NATIONALITIES)),
    "nation_plural": _f("NRP", lambda v: v.rng.choice(NATION_PLURALS)),
    "credit_card_number": _f("CREDIT_CARD", Values2.card),
    "phone_number": _f("PHONE_NUMBER", Values2.evaluator_phone),
    "email": _f("EMAIL_ADDRESS", lambda v: str(v.us.email())),
    "url": _f("URL", lambda v: str(v.rng.choice([v.us.url(), v.us.uri()]))),
    "iban": _f("IBAN_CODE", lambda v: str(v.fake[v.rng.choice(["en_GB", "de_DE", "nl_NL", "fr_FR", "es_ES", "it_IT"])].iban())),
    "ssn": _f("US_SSN", lambda v: str(v.us.ssn())),
    "ip_address": _f("IP_ADDRESS", lambda v: str(v.us.ipv4_public() if v.rng.random() < 0.7 else v.us.ipv6())),
    "us_driver_license": _f("US_DRIVER_LICENSE", Values2.driver_license),
    # the retail half's own slots
    "phone_us": _f("PHONE_NUMBER", Values2.us_phone_dashed),
    "phone_intl": _f("PHONE_NUMBER", lambda v: v.valid_phone(list(PHONE_REGIONS))),
    "nhs": _f("UK_NHS", Values2.nhs),
    "carrier": _f("ORGANIZATION", lambda v: v.rng.choice(CARRIERS)),
    "date": _f("DATE_TIME", lambda v: v.us.date_between(date(2025, 6, 1), date(2027, 6, 1)).strftime(v.rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%b %d", "%d %B %Y", "%d.%m.%Y"]))),
    "time": _f("DATE_TIME", lambda v: f"{v.rng.randrange(7, 21)}:{v.rng.choice(['00', '15', '30', '45'])}"),
    "sku": _f(None, Values2.sku),
    "invoice": _f(None, Values2.invoice),
    "po_number": _f(None, Values2.po_number),
    "tracking": _f(None, Values2.tracking),
    "barcode": _f(None, Values2.barcode),
    "price": _f(None, Values2.price),
    "product": _f(None, lambda v: v.rng.choice(PRODUCTS)),
    "qty": _f(None, lambda v: str(v.rng.randrange(1, 400))),
    "store": _f(None, lambda v: v.digits("0###")),
    "rma": _f(None, lambda v: v.digits(v.rng.choice(["RMA-######", "RMA######", "R-####-####"]))),
    "ticket": _f(None, lambda v: v.digits("#####")),
    "version": _f(None, lambda v: f"{v.rng.randrange(1, 20)}.{v.rng.randrange(30)}.{v.rng.randrange(10)}"),
    "model": _f(None, lambda v: v.digits(v.rng.choice(["WH-####XM5", "KX-TG####", "SM-A###B"]))),
    "coupon": _f(None, lambda v: v.rng.choice(["SAVE20", "WELCOME10", "FREESHIP", "BLACKFRIDAY", "SPRING25"])),
    "lot": _f(None, lambda v: v.digits(v.rng.choice(["24A####", "LOT-####-##", "B###-####"]))),
    "serial": _f(None, lambda v: v.digits(v.rng.choice(["SN#########", "###-####-###", "##########"]))),
    "ref": _f(None, lambda v: v.digits(v.rng.choice(["REF ####-####", "MF-####-####", "##-#####-##"]))),
    "opener": _f(None, lambda v: v.rng.choice(OPENERS)),
    "not_name": _f(None, lambda v: v.rng.choice(NOT_NAMES)),
}  # fmt: skip

RETAIL_OPS_TEMPLATES = [
    # negatives: codes, numbers and words that are no personal data
    "SKU {{sku}} is back in stock at store {{store}}.",
    "Invoice {{invoice}} was paid on {{date}}.",
    "Restock {{qty}} units of {{product}} ({{sku}}) before {{date}}.",
    "Tracking {{tracking}} - out for delivery.",
    "Your parcel {{tracking}} is on its way with {{carrier}}, expected {{date}}.",
    "PO {{po_number}} approved, total {{price}}.",
    "RMA {{rma}} issued for {{product}}, refund {{price}}.",
    "Scan barcode {{barcode}} at the till if the label is torn.",
    "Price change: {{product}} now {{price}} (was {{price}}).",
    "Callback requested about invoice {{invoice}}.",
    "Callback scheduled for {{date}} at {{time}}.",
    "Please never type your SSN into the chat window.",
    "The IBAN field on the refund form was left blank.",
    "SSN and IBAN fields are masked in the nightly export.",
    "We will never ask for your PIN, CVV or full card number.",
    "Enter the IBAN exactly as printed on your bank statement.",
    "IBAN validation failed for refund batch {{invoice}}.",
    "Refunds over {{price}} need a manager's approval.",
    "Pickup window opens at {{time}} on {{date}}.",
    "Warranty claim {{rma}} closed, no fault found.",
    "Checkout error on order {{po_number}}: card declined.",
    "Backorder: {{product}} ships {{date}}.",
    "Curbside pickup at bay {{qty}}; quote order {{po_number}}.",
    "Markdown of {{price}} applied to {{sku}} and {{sku}}.",
    "Ticket #{{ticket}}: customer cannot log in after app update {{version}}.",
    "Firmware {{version}} fixes the pairing bug on the {{model}}.",
    "Coupon {{coupon}} expired on {{date}}.",
    "Cycle count for aisle {{qty}}: {{qty}} units of {{sku}} missing.",
    "Delivery slot moved to {{date}}; reference {{ref}}.",
    "DOB and SSN are optional on the loyalty form.",
    "Phone support hours change on {{date}}.",
    "Order {{po_number}} for {{qty}} x {{product}} shipped via {{carrier}}, tracking {{tracking}}.",
    "INVOICE {{invoice}} | DUE {{date}} | AMOUNT {{price}}",
    "sku={{sku}} qty={{qty}} price={{price}} store={{store}}",
    "{{date}} {{time}} WARN stock below threshold sku={{sku}} on_hand={{qty}}",
    "Manifest {{ref}}: {{qty}} cartons, seal {{serial}}.",
    "Lot {{lot}} of {{product}} recalled; check the batch codes.",
    "Serial {{serial}} registered for warranty on {{date}}.",
    "{{opener}} requested for {{date}}.",
    "{{opener}} is closed until {{time}} today.",
    "{{opener}} queue: {{qty}} open cases, oldest from {{date}}.",
    "{{opener}} approved for invoice {{invoice}}.",
    "Dear {{not_name}}, your order {{po_number}} has shipped.",
    "Please contact {{not_name}} about invoice {{invoice}}.",
    "Agent note: forwarded to {{not_name}} for review.",
    "Customer asked whether {{product}} comes in blue.",
    # positives in the same style
    "Text the pickup code to {{phone_us}} before noon.",
    "Text {{phone_us}} when the order is ready.",
    "WhatsApp {{phone_intl}} for delivery updates.",
    "Callback: {{phone_us}}",
    "Callback requested by {{person}} on {{phone_intl}}.",
    "{{person}},{{email}},{{phone_us}},{{city}}",
    "{{first_name}};{{last_name}};{{phone_intl}};{{sku}}",
    "Reach {{first_name}} at {{phone_us}} or {{email}}.",
    "NHS number {{nhs}} is on the prescription for {{person}}.",
    "Patient NHS No. {{nhs}}, registered at a GP in {{city}}.",
    "SSN on file: {{ssn}}. Do not read it back to the caller.",
    "Refund IBAN {{iban}} belongs to {{person}}.",
    "Pickup by {{person}} ({{phone_intl}}), order {{po_number}}.",
    "{{first_name}} from the {{city}} store will call {{phone_intl}}.",
    "Card {{credit_card_number}} declined at till {{qty}}, invoice {{invoice}}.",
    "Login from {{ip_address}} for {{email}} flagged by fraud rules.",
    "Delivery contact: {{person}}, tel. {{phone_intl}}",
    "Courier left a note for {{person}}: call {{phone_intl}} to rebook.",
    "Dear {{person}}, your order {{po_number}} has shipped.",
    "{{first_name}} asked for a refund of {{price}} on {{date}}.",
    "{{person}} collected {{qty}} parcels from the {{city}} depot.",
    "Escalated by {{first_name}}: the {{carrier}} driver lost parcel {{tracking}}.",
]

SLOT = re.compile(r"\{\{([a-z_]+)\}\}")


def fill(template: str, channel: str, values: Values2) -> Example:
    """The template with every ``{{slot}}`` filled and its span recorded (unlabelled slots,
    such as SKUs, are filled but not recorded)."""
    template = template.replace("\\n", "\n")
    text, spans, pos = "", [], 0
    for m in SLOT.finditer(template):
        text += template[pos : m.start()]
        value, label = FILLERS[m.group(1)](values)
        if label is not None:
            spans.append(Span(label, len(text), len(text) + len(value), value))
        text += value
        pos = m.end()
    text += template[pos:]
    return Example(channel, text, spans)


def sentences2(n: int = 1000, seed: int = SEED) -> list[Example]:
    """``n`` labelled texts at a fixed seed: the two halves in turn."""
    values = Values2(seed)
    rng = random.Random(seed + 1)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(fill(rng.choice(PRESIDIO_EVALUATOR_TEMPLATES), "general", values))
        else:
            out.append(fill(rng.choice(RETAIL_OPS_TEMPLATES), "retail_ops", values))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, required=True)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    args.dump.mkdir(parents=True, exist_ok=True)
    with (args.dump / "sentences2.jsonl").open("w") as out:
        for e in sentences2(args.n):
            out.write(json.dumps(e.public()) + "\n")
    print(f"wrote {args.dump / 'sentences2.jsonl'}")


if __name__ == "__main__":
    main()
