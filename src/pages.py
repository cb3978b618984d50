"""Self-contained HTML pages: the model card, the rollout page and the drift page share this frame.

A page must open offline from a file (a CI artifact, an e-mail attachment),
so every chart is matplotlib's SVG inlined in the page and the stylesheet is
inline too: no script, font or image is ever fetched. Text in the SVGs stays
text (`svg.fonttype: none`), which keeps a page small and lets a browser test
read the charts' labels; the hash salt and the missing date keep the same
figures byte-identical from run to run.

matplotlib is a development extra (requirements-dev.txt), never in the
service image: it is imported here, by the pages, and nowhere the service runs.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: the pages are rendered headless
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "churn-service",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)

PASS, FAIL, SKIP = "#1a7f37", "#cf222e", "#6e7781"
FAIL_ROW = "#ffebe9"  # the background of a failing row: a reader's eye (and the browser test) finds it
STABLE_COLOR, CANDIDATE_COLOR = "#0969da", "#bf8700"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}
.verdict{display:inline-block;padding:.25rem .7rem;border-radius:1rem;color:#fff;font-weight:600}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#cf222e}.verdict.other{background:#6e7781}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.fail td{background:FAIL_ROW;font-weight:600}tr.skipped td{color:#6e7781}
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0}figcaption{font-size:.85rem;color:#57606a}
svg{max-width:100%;height:auto}p.note{color:#57606a;font-size:.9rem}
""".replace("FAIL_ROW", FAIL_ROW)


@dataclass(frozen=True)
class Section:
    """One titled part of a page; `id` is what a reader links to and a browser test looks for."""

    id: str
    title: str
    body: str


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: object, spec: str = ".4g") -> str:
    """A figure for a table cell: floats to `spec`, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def svg(fig: Figure) -> str:
    """The figure as inline SVG markup (no XML prolog, no date), and the figure closed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def figure(width: float = 5.0, height: float = 3.4) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def chart(markup: str, caption: str) -> str:
    return f"<figure>{markup}<figcaption>{esc(caption)}</figcaption></figure>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = ()) -> str:
    """An HTML table; cells are already-escaped markup, numeric-looking ones right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        cells = "".join(f'<td class="num">{c}</td>' if _numeric(c) else f"<td>{c}</td>" for c in row)
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric(cell: str) -> bool:
    stripped = cell.lstrip("<>=≤≥ -").rstrip("% ms")
    try:
        float(stripped.replace(",", ""))
    except ValueError:
        return False
    return True


def verdict_badge(text: str, ok: bool | None) -> str:
    cls = "other" if ok is None else "pass" if ok else "fail"
    return f'<span class="verdict {cls}">{esc(text)}</span>'


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole document: inline style, every section with its id, nothing fetched."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1><div>{subtitle}</div>",
    ]
    parts += [f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections]
    parts.append("</body></html>\n")
    return "\n".join(parts)
