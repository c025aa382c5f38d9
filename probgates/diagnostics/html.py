"""A minimal self-contained HTML page: inline CSS, relative PNG links, tables; no scripts."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

STYLE = """
body { font-family: sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; } p.note { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def escape(text) -> str:
    return html.escape(str(text))


def fmt(value) -> str:
    """Numbers with 4 significant digits; other values as text."""
    if isinstance(value, bool) or value is None:
        return escape(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    return escape(value)


def table(header: Sequence[str], rows: Iterable[Sequence], *, text_columns: int = 1) -> str:
    """An HTML table; the first ``text_columns`` columns are left-aligned text."""

    def cell(tag, n, value):
        cls = ' class="text"' if n < text_columns else ""
        return f"<{tag}{cls}>{fmt(value) if tag == 'td' else escape(value)}</{tag}>"

    head = "".join(cell("th", n, h) for n, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", n, v) for n, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def figure(src: str, caption: str) -> str:
    image = f'<img src="{escape(src)}" alt="{escape(caption)}">'
    return f"<figure>{image}<figcaption>{escape(caption)}</figcaption></figure>"


def paragraph(text: str, note: bool = False) -> str:
    return f"<p{' class=note' if note else ''}>{escape(text)}</p>"


def section(title: str, *parts: str) -> str:
    return f"<h2>{escape(title)}</h2>\n" + "\n".join(parts)


def page(title: str, *sections: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
