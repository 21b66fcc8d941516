"""What every demo step gets: the console, the running service, its keys and settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from governance.config import Settings


@dataclass
class DemoContext:
    console: Console
    url: str
    keys: dict[str, str]
    settings: Settings
    retail_url: str
    started: datetime
    out_dir: Path
    notes: dict[str, Any] = field(default_factory=dict)
    """What a step leaves for a later one (the subject erased, report paths …)."""

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=120
        )


Step = Callable[[DemoContext], None]
