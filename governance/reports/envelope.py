"""Signing a report and checking one: the signature, the bytes, the anchor in the audit trail.

The signature (Ed25519, the key ring's signing key) covers the canonical JSON of the envelope
without its signature: the content, the parameters, and the audit chain heads when it was made.
A JSON report is written in that canonical form, so any change to the file, one byte of
whitespace included, is a change to what was signed. An HTML report embeds the signed envelope
and is re-rendered from it on verification: a change to the visible page fails as surely. A
PDF carries a detached signature file beside it (``.sig.json``) over its exact bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from governance.audit.chain import ChainHead
from governance.audit.checkpoints import merkle_root
from governance.reports.models import Anchor, ReportEnvelope, Signature
from governance.signing import PublicKey, Signer, canonical, verify

EMBED_ID = "governance-report"
_EMBED = re.compile(
    r'<script type="application/json" id="' + EMBED_ID + r'">(.*?)</script>', re.DOTALL
)
PDF_SIDECAR = ".sig.json"


def anchor_of(heads: Sequence[ChainHead]) -> Anchor:
    chains = [{"chain": h.chain, "seq": h.seq, "hash": h.hash} for h in heads if h.seq > 0]
    return Anchor(chains=chains, records=sum(h.seq for h in heads), root=merkle_root(chains))


def signed_body(envelope: ReportEnvelope) -> dict[str, Any]:
    return envelope.model_dump(mode="json", exclude={"signature"})


def sign(envelope: ReportEnvelope, signer: Signer) -> ReportEnvelope:
    kid, value = signer.sign(signed_body(envelope))
    return envelope.model_copy(update={"signature": Signature(kid=kid, value=value)})


def json_bytes(envelope: ReportEnvelope) -> bytes:
    """The JSON form of a report: canonical (sorted keys, no spaces), as it was signed."""
    return canonical(envelope.model_dump(mode="json"))


def digest(envelope: ReportEnvelope) -> str:
    return hashlib.sha256(json_bytes(envelope)).hexdigest()


def embed(envelope: ReportEnvelope) -> str:
    """The envelope as an inert JSON block inside HTML (``</`` escaped as JSON allows)."""
    text = json_bytes(envelope).decode().replace("</", "<\\/")
    return f'<script type="application/json" id="{EMBED_ID}">{text}</script>'


def pdf_sidecar(pdf: bytes, envelope: ReportEnvelope, signer: Signer) -> bytes:
    body = {
        "type": "governance.report.pdf-signature",
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "envelope": envelope.model_dump(mode="json"),
    }
    kid, value = signer.sign(body)
    return canonical({**body, "kid": kid, "signature": value})


@dataclass
class ReportCheck:
    ok: bool
    kind: str | None = None
    title: str | None = None
    generated_at: str | None = None
    kid: str | None = None
    signature_ok: bool = False
    bytes_ok: bool = False
    anchored: bool | None = None
    problems: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kind": self.kind,
            "title": self.title,
            "generated_at": self.generated_at,
            "kid": self.kid,
            "signature_ok": self.signature_ok,
            "bytes_ok": self.bytes_ok,
            "anchored": self.anchored,
            "problems": self.problems,
        }


HeadLookup = Callable[[str, int], str | None]
"""The hash of the audit record at (chain, chain_seq), or None when there is none."""


def check(
    data: bytes,
    keys: Mapping[str, PublicKey],
    *,
    render_html: Callable[[ReportEnvelope], str] | None = None,
    sidecar: bytes | None = None,
    head_hash: HeadLookup | None = None,
) -> ReportCheck:
    """Verify a report file (JSON, HTML or PDF with its sidecar)."""
    result = ReportCheck(ok=False)
    pdf_bytes: bytes | None = None
    if data.startswith(b"%PDF"):
        if sidecar is None:
            result.problems.append(f"a PDF report is verified with its {PDF_SIDECAR} file")
            return result
        pdf_bytes, data = data, sidecar
    text = data.decode("utf-8", errors="replace")
    embedded = _EMBED.search(text) if not text.lstrip().startswith("{") else None
    try:
        raw = embedded.group(1).replace("<\\/", "</") if embedded else text
        doc = json.loads(raw)
    except ValueError:
        result.problems.append("no signed report found in the file (not JSON, no embedded block)")
        return result
    if pdf_bytes is not None:
        if doc.get("type") != "governance.report.pdf-signature":
            result.problems.append("the signature file is not a PDF report signature")
            return result
        body = {k: v for k, v in doc.items() if k not in ("kid", "signature")}
        if not verify(keys, str(doc.get("kid")), body, str(doc.get("signature"))):
            result.problems.append("the PDF signature does not verify")
            return result
        if hashlib.sha256(pdf_bytes).hexdigest() != doc.get("sha256"):
            result.problems.append("the PDF was changed after it was signed")
            return result
        doc = doc["envelope"]
    try:
        envelope = ReportEnvelope.model_validate(doc)
    except ValueError as exc:
        result.problems.append(f"not a report envelope: {str(exc).splitlines()[0]}")
        return result
    result.kind, result.title, result.generated_at = (
        envelope.kind,
        envelope.title,
        envelope.generated_at,
    )
    if envelope.signature is None:
        result.problems.append("the report is not signed")
        return result
    result.kid = envelope.signature.kid
    result.signature_ok = verify(
        keys, envelope.signature.kid, signed_body(envelope), envelope.signature.value
    )
    if not result.signature_ok:
        result.problems.append(
            "the signature does not verify: the report was altered, or signed by another key"
        )
    if pdf_bytes is not None:
        result.bytes_ok = True
    elif embedded is None:
        result.bytes_ok = data.strip() == json_bytes(envelope)
        if not result.bytes_ok:
            result.problems.append("the file is not the canonical JSON that was signed (edited)")
    elif render_html is not None:
        result.bytes_ok = render_html(envelope) == text
        if not result.bytes_ok:
            result.problems.append("the page differs from the report it embeds (edited)")
    if head_hash is not None:
        missing = []
        for head in envelope.anchor.chains:
            stored = head_hash(str(head["chain"]), int(head["seq"]))
            if stored != head["hash"]:
                missing.append(f"{head['chain']}#{head['seq']}")
        result.anchored = not missing
        if missing:
            result.problems.append(
                "the audit chain head the report recorded is no longer in the trail "
                f"({', '.join(missing)}): records it relied on were cut or rewritten"
            )
    result.ok = result.signature_ok and result.bytes_ok and result.anchored is not False
    return result


def attribute(text: str) -> str:
    return html.escape(text, quote=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
