"""The operators and the key ring: round trips, stability, separation, rotation, masking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.pdp.decision import ObligationAction
from governance.pii.keyring import KeyRing, KeyRingError
from governance.pii.operators import Protector, TokenError, canonical, mask_value

ROOT = Path(__file__).resolve().parents[3]
AT = {"dataset": "crm/customers", "column": "email"}
"""Where the tokens of these tests come from: encryption tokens are bound to it."""


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(scope="module")
def protector(ring: KeyRing) -> Protector:
    return Protector(ring, domains={"personalization": "ml", "model_training": "ml"})


@settings(max_examples=300)
@given(value=st.text())
def test_encrypt_then_decrypt_gives_the_original(protector: Protector, value: str) -> None:
    token = protector.encrypt(value, **AT)
    assert token is not None
    assert token.startswith(f"encb_{protector.ring.active_id}_")
    assert protector.decrypt(token, **AT) == value


@settings(max_examples=200)
@given(value=st.text(min_size=1))
def test_tokens_are_deterministic(protector: Protector, value: str) -> None:
    assert protector.encrypt(value, **AT) == protector.encrypt(value, **AT)
    assert protector.pseudonymize(value, purpose="analytics") == protector.pseudonymize(
        value, purpose="analytics"
    )
    assert protector.hash(value) == protector.hash(value)


@settings(max_examples=200)
@given(value=st.text(min_size=1))
def test_pseudonyms_of_two_purposes_do_not_join(protector: Protector, value: str) -> None:
    analytics = protector.pseudonymize(value, purpose="analytics")
    fraud = protector.pseudonymize(value, purpose="fraud_prevention")
    assert analytics != fraud
    # personalization and model_training share the "ml" domain: their tokens join
    assert protector.pseudonymize(value, purpose="personalization") == protector.pseudonymize(
        value, purpose="model_training"
    )


def test_hash_is_keyed_hmac_not_a_bare_hash(ring: KeyRing, protector: Protector) -> None:
    value = "jane.doe@example.com"
    assert protector.hash(value) != hashlib.sha256(value.encode()).hexdigest()
    expected = hmac.new(ring.subkey(ring.active_id, "hash"), value.encode(), "sha256").hexdigest()
    assert protector.hash(value, "EMAIL_ADDRESS") == expected
    other = Protector(KeyRing.generate())
    assert other.hash(value) != protector.hash(value)


def test_canonical_forms_join_spellings(protector: Protector) -> None:
    assert protector.pseudonymize(
        "Jane.Doe@Example.com ", "EMAIL_ADDRESS", purpose="analytics"
    ) == protector.pseudonymize("jane.doe@example.com", "EMAIL_ADDRESS", purpose="analytics")
    assert canonical("+44 20 7946-0958", "PHONE_NUMBER") == "+442079460958"
    assert canonical("4111 1111 1111 1111", "CREDIT_CARD") == "4111111111111111"
    assert canonical("de89 3704 0044 0532 0130 00", "IBAN_CODE") == "DE89370400440532013000"


def test_tokens_are_stable_across_restarts(tmp_path: Path) -> None:
    """A fresh process with the same key file makes the same tokens and reverses ours."""
    ring = KeyRing.generate()
    path = tmp_path / "keys.json"
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    here = Protector(KeyRing.load(path))
    values = ["jane@example.com", "4111 1111 1111 1111", "Zoë Ångström"]
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from governance.pii.keyring import KeyRing\n"
        "from governance.pii.operators import Protector\n"
        "p = Protector(KeyRing.load(Path(sys.argv[1])))\n"
        "values = json.loads(sys.argv[2])\n"
        "AT = {'dataset': 'crm/customers', 'column': 'email'}\n"
        "print(json.dumps({'enc': [p.encrypt(v, **AT) for v in values],"
        " 'ps': [p.pseudonymize(v, purpose='analytics') for v in values],"
        " 'hash': [p.hash(v) for v in values],"
        " 'dec': p.decrypt(sys.argv[3], **AT)}))\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(path),
            json.dumps(values),
            here.encrypt(values[2], **AT),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    there = json.loads(out.stdout)
    assert there["enc"] == [here.encrypt(v, **AT) for v in values]
    assert there["ps"] == [here.pseudonymize(v, purpose="analytics") for v in values]
    assert there["hash"] == [here.hash(v) for v in values]
    assert there["dec"] == values[2]


def test_rotation_new_tokens_new_key_old_tokens_still_reverse(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    old = Protector(ring)
    old_token = old.encrypt("4111 1111 1111 1111", **AT)
    rotated = ring.rotate()
    assert rotated.active_id != ring.active_id
    assert [k.id for k in rotated.keys] == [ring.active_id, rotated.active_id]
    new = Protector(rotated)
    new_token = new.encrypt("4111 1111 1111 1111", **AT)
    assert new_token is not None
    assert new_token.startswith(f"encb_{rotated.active_id}_")
    assert new_token != old_token
    assert old_token is not None
    assert new.decrypt(old_token, **AT) == "4111 1111 1111 1111"
    assert new.decrypt(new_token, **AT) == "4111 1111 1111 1111"
    # the old ring cannot read tokens of a key it never had
    with pytest.raises(TokenError, match="does not hold"):
        old.decrypt(new_token, **AT)
    # saved and loaded, the rotated ring keeps both keys
    rotated.save(tmp_path / "k.json")
    assert (
        Protector(KeyRing.load(tmp_path / "k.json")).decrypt(old_token, **AT)
        == "4111 1111 1111 1111"
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # a flipped byte
        lambda t: t.replace("encb_", "encb_x", 1),  # another key id
        lambda t: t[:20],  # truncated
        lambda t: "ps_" + t[5:],  # not an encryption token
        lambda t: t + "!!",  # not base64
    ],
)
def test_altered_tokens_are_refused(protector: Protector, mangle: object) -> None:
    token = protector.encrypt("jane@example.com", **AT)
    assert token is not None
    with pytest.raises(TokenError):
        protector.decrypt(mangle(token), **AT)  # type: ignore[operator]


def test_a_token_of_another_ring_with_the_same_key_id_is_refused(ring: KeyRing) -> None:
    token = Protector(ring).encrypt("x", **AT)
    other_key = KeyRing.generate()
    impostor = KeyRing(
        ring.active_id,
        (
            type(other_key.active)(
                ring.active_id, other_key.active.created, other_key.active.material
            ),
        ),
    )
    assert token is not None
    with pytest.raises(TokenError, match="altered"):
        Protector(impostor).decrypt(token, **AT)


def test_key_material_never_shows(tmp_path: Path, ring: KeyRing) -> None:
    material = base64.b64encode(ring.active.material).decode()
    assert material not in repr(ring)
    assert material not in repr(ring.active)
    broken = json.loads(ring.to_json())
    broken["keys"][0]["material"] = material + "#"  # not base64: the decoder would quote it
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(KeyRingError) as caught:
        KeyRing.load(path)
    assert material not in str(caught.value)
    short = json.loads(ring.to_json())
    short["keys"][0]["material"] = base64.b64encode(b"short").decode()
    with pytest.raises(KeyRingError, match="32 bytes"):
        KeyRing.from_json(json.dumps(short), "env")
    with pytest.raises(KeyRingError, match="cannot read"):
        KeyRing.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("value", "pii_type", "masked"),
    [
        ("jane.doe@example.com", "EMAIL_ADDRESS", "j***@example.com"),
        ("4111 1111 1111 1234", "CREDIT_CARD", "**** **** **** 1234"),
        ("4111111111111234", "CREDIT_CARD", "************1234"),
        ("+44 20 7946 0958", "PHONE_NUMBER", "+** ** **** 0958"),
        ("078-05-1120", "US_SSN", "***-**-1120"),
        ("DE89 3704 0044 0532 0130 00", "IBAN_CODE", "DE** **** **** **** **30 00"),
        ("192.168.10.77", "IP_ADDRESS", "192.168.*.*"),
        ("Jane Doe", "PERSON", "J*** D**"),
        ("1985-04-12", "DATE_TIME", "1985-**-**"),
        ("12 Baker Street, London", "LOCATION", "** ***** ******, London"),
        ("CU12345678", "CUSTOMER_ID", "******5678"),
        ("abc", None, "***"),
        ("secret-value", None, "s*****-****e"),
    ],
)
def test_masks_keep_the_format(value: str, pii_type: str | None, masked: str) -> None:
    assert mask_value(value, pii_type) == masked


def test_column_operators(protector: Protector) -> None:
    assert protector.operator(ObligationAction.keep, "PERSON", "analytics")("Jane") == "Jane"
    assert protector.operator(ObligationAction.drop, "PERSON", "analytics")("Jane") is None
    assert protector.operator(ObligationAction.redact, "PERSON", "x")("Jane") == "<PERSON>"
    for action in ObligationAction:
        assert protector.operator(action, "EMAIL_ADDRESS", "analytics", **AT)(None) is None
    enc = protector.operator(ObligationAction.encrypt, "EMAIL_ADDRESS", "analytics", **AT)
    assert protector.decrypt(enc("a@b.example"), **AT) == "a@b.example"
    # a list in a JSON column is not hashable: still transformed
    assert protector.operator(ObligationAction.mask, None, None)(["x"]) == "['*']"


def test_cli_rotate_creates_then_rotates_and_never_prints_material(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from governance.cli import app

    runner = CliRunner()
    path = tmp_path / "ring.json"
    first = runner.invoke(app, ["keys", "rotate", "--key-file", str(path)])
    assert first.exit_code == 0, first.output
    ring = KeyRing.load(path)
    assert len(ring.keys) == 1
    token = Protector(ring).encrypt("jane@example.com", **AT)
    second = runner.invoke(app, ["keys", "rotate", "--key-file", str(path)])
    assert second.exit_code == 0, second.output
    rotated = KeyRing.load(path)
    assert len(rotated.keys) == 2
    assert rotated.active_id != ring.active_id
    assert rotated.active_id in second.output
    assert token is not None
    assert Protector(rotated).decrypt(token, **AT) == "jane@example.com"
    listing = runner.invoke(app, ["keys", "ring", "--key-file", str(path)])
    for key in rotated.keys:
        assert key.id in listing.output
        material = base64.b64encode(key.material).decode()
        for output in (first.output, second.output, listing.output):
            assert material not in output


@given(mac=st.binary(min_size=15, max_size=32))
def test_fast_base32_is_rfc4648(mac: bytes) -> None:
    from governance.pii.operators import b32_120

    assert b32_120(mac) == base64.b32encode(mac[:15]).decode().lower()


# ---- tokens are bound to their dataset and column -------------------------------------------


@settings(max_examples=100)
@given(
    value=st.text(min_size=1),
    other=st.sampled_from(
        [
            {"dataset": "webshop/orders", "column": "email"},
            {"dataset": "crm/customers", "column": "phone"},
            {"dataset": "crm/customers2", "column": "email"},
        ]
    ),
)
def test_a_token_does_not_open_for_another_dataset_or_column(
    protector: Protector, value: str, other: dict[str, str]
) -> None:
    token = protector.encrypt(value, **AT)
    assert token is not None
    with pytest.raises(TokenError, match="another dataset or column"):
        protector.decrypt(token, **other)
    assert protector.decrypt(token, **AT) == value


def test_a_bound_token_needs_its_column(protector: Protector) -> None:
    token = protector.encrypt("jane@example.com", **AT)
    assert token is not None
    with pytest.raises(TokenError, match="column"):
        protector.decrypt(token, dataset="crm/customers", column=None)


def test_legacy_unbound_tokens_open_only_when_allowed(protector: Protector) -> None:
    legacy = protector.legacy_encrypt("jane@example.com")
    assert legacy is not None
    assert legacy.startswith(f"enc_{protector.ring.active_id}_")
    with pytest.raises(TokenError, match="rebind"):
        protector.decrypt(legacy, **AT)
    assert protector.decrypt(legacy, **AT, legacy=True) == "jane@example.com"
    # allowed, a legacy token opens for any dataset: that is the hole rebinding closes
    assert protector.decrypt(legacy, dataset="x/y", column="z", legacy=True) == "jane@example.com"


def test_encrypting_a_column_needs_to_know_where(protector: Protector) -> None:
    with pytest.raises(ValueError, match="dataset and a column"):
        protector.operator(ObligationAction.encrypt, "EMAIL_ADDRESS", "analytics")
