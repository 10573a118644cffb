"""Server-rendered charts as inline SVG (no script: the Content-Security-Policy forbids it).
Colours are SVG presentation attributes, not style attributes, so `style-src 'self'` allows them.
Each chart is a <figure> whose SVG has a <title> (its accessible name) and whose data is also a
table below it, for screen readers and for anyone who would rather read numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tawa.console.pages import e  # every value on a page is escaped in one place

PALETTE = ("#2f6fdf", "#e0892b", "#3a9d5d", "#b6466b", "#7b5cc4", "#2aa3a3", "#8a8f2a", "#6d6d6d")
WIDTH, HEIGHT, GAP = 640, 220, 4
MIN_COLUMNS = 10  # so that a day or two draw as columns, not as a wall
NO_USAGE = "No usage yet for these filters."


def empty(title: str) -> str:
    return f'<figure class="chart"><figcaption>{e(title)}</figcaption><p class="empty">{NO_USAGE}</p></figure>'


def figure(title: str, svg: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    fallback = ("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>"
                f"<tbody>{cells}</tbody></table>")
    return (f'<figure class="chart"><figcaption>{e(title)}</figcaption>{svg}'
            f"<details><summary>The data as a table</summary>{fallback}</details></figure>")


def svg(title: str, height: int, inner: str) -> str:
    return (f'<svg role="img" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMid meet" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{e(title)}</title>{inner}</svg>')


def rect(css: str, x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}">'
            f"<title>{e(tip)}</title></rect>")


def stacked(title: str, columns: Sequence[tuple[str, Mapping[str, int]]]) -> str:
    """One column per key (a day), one segment per series (a service) with tokens in it."""
    series = sorted({s for _, values in columns for s, v in values.items() if v > 0})
    top = max((sum(values.values()) for _, values in columns), default=0)
    if top <= 0:
        return empty(title)
    plot, step = HEIGHT - 20, WIDTH / max(len(columns), MIN_COLUMNS)
    parts = []
    for i, (key, values) in enumerate(columns):
        base = float(plot)
        for s in series:
            if (v := values.get(s, 0)) > 0:
                h = v / top * plot
                base -= h
                parts.append(rect("segment", i * step + GAP / 2, base, step - GAP, h,
                                  PALETTE[series.index(s) % len(PALETTE)], f"{key} · {s or '—'}: {v:,} tokens"))
        parts.append(f'<text x="{i * step + step / 2:.1f}" y="{HEIGHT - 5}" text-anchor="middle" '
                     f'font-size="11">{e(key[5:] if len(columns) > 1 else key)}</text>')
    legend = "".join(f'<span class="key"><svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">'
                     f'<rect width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/></svg>{e(s or "—")}</span>'
                     for i, s in enumerate(series))
    rows = [(key, s or "—", f"{v:,}") for key, values in columns for s, v in sorted(values.items()) if v > 0]
    return figure(title, svg(title, HEIGHT, "".join(parts)) + f'<p class="legend">{legend}</p>',
                  ("Day", "Service", "Tokens"), rows)


def bars(title: str, items: Sequence[tuple[str, int]], label: str = "Tokens") -> str:
    """Horizontal bars, one per item with tokens in it, longest first as given."""
    shown = [(k, v) for k, v in items if v > 0]
    if not shown:
        return empty(title)
    top, row, room = max(v for _, v in shown), 30, WIDTH * 0.35
    parts = []
    for i, (key, v) in enumerate(shown):
        y = i * row
        parts.append(f'<text x="{room - 6:.1f}" y="{y + 18}" text-anchor="end" font-size="14">{e(clip(key))}</text>')
        parts.append(rect("bar", room, y + 4, max(v / top * (WIDTH - room - 70), 1), row - 8,
                          PALETTE[i % len(PALETTE)], f"{key}: {v:,}"))
        parts.append(f'<text x="{WIDTH - 64}" y="{y + 18}" font-size="14">{v:,}</text>')
    return figure(title, svg(title, row * len(shown), "".join(parts)), ("", label),
                  [(k, f"{v:,}") for k, v in shown])


def clip(text: str, most: int = 32) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
