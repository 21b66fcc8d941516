"""Process-wide runtime tuning, applied once the service has started."""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int) -> None:
    """Freeze the start-up heap and run the young-generation collector less often.

    Lineage ingest and decisions allocate millions of short-lived dicts; with CPython's default
    thresholds the cyclic collector re-scans the long-lived heap so often that it costs more
    than the work itself (decoding a 3 KB event: 150 µs with the defaults, 26 µs without).
    ``gc.freeze`` moves what exists at start-up out of the collector's sight. 0 keeps defaults.
    """
    if gen0_threshold <= 0:
        return
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, max(gen1, 20), max(gen2, 50))
