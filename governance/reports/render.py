"""Reports for people: self-contained HTML (inline CSS, inline SVG, no script, no network,
printable), and PDF printed from it by headless Chromium where Chromium is installed.

Rendering is deterministic: the same envelope renders the same bytes, which is how a signed HTML
report is verified (``envelope.check`` re-renders the envelope the page embeds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from governance import __version__
from governance.errors import InvalidInput
from governance.reports.envelope import embed
from governance.reports.models import AiReport, ReportEnvelope
from governance.reports.svg import lineage_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["j2", "html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(envelope: ReportEnvelope) -> str:
    content = envelope.content
    svg = Markup("")
    if envelope.kind == "ai":
        report = AiReport.model_validate(content)
        raw = {
            (c.dataset, c.column)
            for c in report.columns
            if c.treatment == "raw" and c.pii_type not in ("NONE", "UNKNOWN")
        }
        svg = lineage_svg(report.lineage_nodes, report.lineage_edges, raw_fields=raw)
    template = _environment().get_template(f"{envelope.kind}.html.j2")
    return template.render(
        env=envelope,
        content=content,
        svg=svg,
        version=__version__,
        embedded=Markup(embed(envelope)),  # noqa: S704 - JSON with "</" escaped
    )


def chromium() -> str | None:
    """The Chromium binary: ``GOVERNANCE_CHROMIUM``, else the usual names on PATH."""
    configured = os.environ.get("GOVERNANCE_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_pdf(html: str, *, timeout: float = 120.0) -> bytes:
    """Print the HTML to PDF with headless Chromium; a clear error when there is none."""
    binary = chromium()
    if binary is None:
        raise InvalidInput(
            "PDF is printed by headless Chromium, which is not installed here (apt-get install "
            "chromium, or set GOVERNANCE_CHROMIUM); ask for html or json instead"
        )
    with tempfile.TemporaryDirectory(prefix="report-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        out = Path(tmp) / "report.pdf"
        profile = Path(tmp) / "profile"
        result = subprocess.run(  # noqa: S603 - a fixed binary and our own file
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={out}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0 or not out.exists():
            raise InvalidInput(
                f"Chromium could not print the report (exit {result.returncode}); "
                "ask for html or json instead"
            )
        return out.read_bytes()
