"""Lineage drawn as inline SVG for the HTML reports: no script, no network, printable.

A layered layout, left to right from the sources to the model: each node's column is its
distance from the model (longest path), datasets are boxes listing their fields, jobs are
rounded boxes between them; column lineage is drawn from field row to field row (dashed where
the derivation masks the value, red where a PII column reached the model in the clear).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from html import escape

from markupsafe import Markup

from governance.reports.models import LineageEdge, LineageNode

COLUMN, WIDTH, ROW, HEADER, GAP, PAD = 250, 190, 15, 22, 26, 20


def lineage_svg(
    nodes: Sequence[LineageNode],
    edges: Sequence[LineageEdge],
    *,
    raw_fields: Iterable[tuple[str, str]] = (),
) -> Markup:
    if not nodes:
        return Markup('<p class="gap">no lineage to draw</p>')
    by_id = {n.id: n for n in nodes}
    parents: dict[str, set[str]] = {n.id: set() for n in nodes}
    for e in edges:
        if e.source in by_id and e.target in by_id and e.source != e.target:
            parents[e.target].add(e.source)
    sink = next((n.id for n in nodes if n.kind == "model"), nodes[0].id)
    level: dict[str, int] = {sink: 0}
    queue = deque([sink])
    while queue:  # distance from the model, longest path (bounded by the node count)
        current = queue.popleft()
        for parent in sorted(parents[current]):
            candidate = level[current] + 1
            if candidate > level.get(parent, -1) and candidate <= len(nodes):
                level[parent] = candidate
                queue.append(parent)
    depth = max(level.values(), default=0)
    for n in nodes:
        level.setdefault(n.id, depth + 1)
    depth = max(level.values())
    columns: dict[int, list[LineageNode]] = {}
    for n in sorted(nodes, key=lambda n: n.id):
        columns.setdefault(depth - level[n.id], []).append(n)
    position: dict[str, tuple[float, float, float]] = {}  # x, y, height
    height = 0.0
    for column, members in sorted(columns.items()):
        y = float(PAD)
        for n in members:
            h = HEADER + (len(n.fields) * ROW + 6 if n.kind != "job" else 0)
            position[n.id] = (PAD + column * COLUMN, y, h)
            y += h + GAP
        height = max(height, y)
    width = PAD * 2 + (depth + 1) * COLUMN - (COLUMN - WIDTH)
    raw = {(d, f) for d, f in raw_fields}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}">',
        "<title>Training data lineage, from the sources (left) to the model (right)</title>",
    ]

    def field_y(node_id: str, field: str | None) -> float:
        y = position[node_id][1]
        node = by_id[node_id]
        if field is None or field not in node.fields:
            return y + HEADER / 2
        return y + HEADER + node.fields.index(field) * ROW + ROW / 2 + 2

    for e in edges:
        if e.source not in position or e.target not in position:
            continue
        sx, _, _ = position[e.source]
        tx, _, _ = position[e.target]
        y1 = field_y(e.source, e.source_field)
        y2 = field_y(e.target, e.target_field)
        x1, x2 = sx + WIDTH, tx
        bend = (x2 - x1) / 2
        path = f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        cls = "edge-field" if e.kind == "field" else "edge"
        if e.masking:
            cls += " masked"
        if (e.source, e.source_field or "") in raw:
            cls += " raw"
        label = escape(e.transformation or "")
        parts.append(f'<path class="{cls}" d="{path}"><title>{label}</title></path>')
    for n in nodes:
        x, y, box = position[n.id]
        cls = {"job": "job", "model": "model"}.get(n.kind, "dataset")
        radius = 12 if n.kind == "job" else 4
        parts.append(
            f'<rect class="{cls}" x="{x:.0f}" y="{y:.0f}" width="{WIDTH}" height="{box:.0f}" '
            f'rx="{radius}"/>'
        )
        title = n.id.removeprefix("job:")
        parts.append(
            f'<text class="node-title" x="{x + 8:.0f}" y="{y + 15:.0f}">{escape(title)}</text>'
        )
        for i, f in enumerate(n.fields):
            marker = " field-raw" if (n.id, f) in raw else ""
            parts.append(
                f'<text class="field{marker}" x="{x + 12:.0f}" '
                f'y="{y + HEADER + i * ROW + ROW:.0f}">{escape(f)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
