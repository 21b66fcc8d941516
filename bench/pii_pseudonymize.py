"""Pseudonymizing, hashing, encrypting and masking 1,000,000 values; obligations on a 1M-row frame.

Every value is distinct (the operators memoize repeated values, so repeats would flatter them).
The keys are a fresh in-memory key ring: HKDF subkeys per operator and per pseudonym domain.

* ``pseudonymize``: HMAC-SHA256 under the domain's key, 75 bits base32 (``ps_<kid>_...``);
* ``hash``: HMAC-SHA256, 256 bits hex;
* ``encrypt``: AES-SIV (deterministic, authenticated, ``enc_<kid>_...``), and ``decrypt`` back;
* ``mask``: format-keeping (email keeps its domain);
* ``apply_obligations`` on a 1,000,000-row DataFrame of four PII columns plus one it drops.

    python bench/pii_pseudonymize.py [--values 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from rich.console import Console
from rich.table import Table

from governance.pdp.decision import ColumnObligation, Decision, Effect, ObligationAction
from governance.pii.apply import apply_obligations
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.values
    console = Console()
    protector = Protector(KeyRing.generate())
    emails = [f"customer.{i:07d}@example-{i % 97}.com" for i in range(n)]

    out = Table(title=f"{n:,} distinct values, one core")
    for c in ("operator", "seconds", "values/s", "µs/value"):
        out.add_column(c, justify="left" if c == "operator" else "right")

    def timed(name: str, fn: object, values: list[str]) -> list[object]:
        started = time.perf_counter()
        result = [fn(v) for v in values]  # type: ignore[operator]
        took = time.perf_counter() - started
        out.add_row(name, f"{took:.2f}", f"{n / took:,.0f}", f"{took * 1e6 / n:.2f}")
        return result

    pseudonymize = protector.pseudonymizer("EMAIL_ADDRESS", "analytics")
    tokens = timed("pseudonymize (HMAC-SHA256 token)", pseudonymize, emails)
    assert len(set(tokens)) == n, "pseudonyms collided"
    timed("hash (HMAC-SHA256 hex)", lambda v: protector.hash(v, "EMAIL_ADDRESS"), emails)
    sealed = timed("encrypt (AES-SIV token)", protector.encrypt, emails)
    back = timed("decrypt", protector.decrypt, sealed)  # type: ignore[arg-type]
    assert back == emails, "decrypt did not give the originals back"
    timed(
        "mask (email keeps its domain)",
        protector.operator(ObligationAction.mask, "EMAIL_ADDRESS", None),
        emails,
    )

    frame = pd.DataFrame(
        {
            "email": emails,
            "full_name": [f"Name {i}" for i in range(n)],
            "phone": [f"+44 20 7{i:07d}"[:16] for i in range(n)],
            "card": [f"4111 1111 {i:08d}"[:19] for i in range(n)],
            "notes": ["free text"] * n,
        }
    )
    decision = Decision(
        decision=Effect.allow,
        reason="bench",
        policy_version="bench",
        obligations=[
            ColumnObligation(column="email", pii_type="EMAIL_ADDRESS", action=ObligationAction.pseudonymize),
            ColumnObligation(column="full_name", pii_type="PERSON", action=ObligationAction.hash),
            ColumnObligation(column="phone", pii_type="PHONE_NUMBER", action=ObligationAction.encrypt),
            ColumnObligation(column="card", pii_type="CREDIT_CARD", action=ObligationAction.mask),
        ],
    )  # fmt: skip
    started = time.perf_counter()
    result = apply_obligations(frame, decision, protector, purpose="analytics")
    took = time.perf_counter() - started
    assert list(result.columns) == ["email", "full_name", "phone", "card"]
    assert result["email"].tolist() == tokens
    out.add_row(
        f"apply_obligations, {n:,} rows x 4 columns (+1 dropped)",
        f"{took:.2f}",
        f"{4 * n / took:,.0f}",
        f"{took * 1e6 / (4 * n):.2f}",
    )
    console.print(out)


if __name__ == "__main__":
    main()
