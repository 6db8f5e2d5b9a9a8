"""A small document model (headings, paragraphs, tables) rendered as Markdown and as HTML.

summary.md and claims.md are Markdown for people reading `results/{run}/`; Snakemake's HTML report
shows only images, PDFs and HTML inline (other files become download buttons), so the same
content is also rendered as a standalone HTML page for the report. Tables are pandas frames of
preformatted strings: `DataFrame.to_markdown` (tabulate, a Snakemake dependency) and `to_html`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

STYLE = ("body{font-family:sans-serif;max-width:70em;margin:1em auto;line-height:1.4}"
         "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
         "th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}th{background:#f3f3f3}")


@dataclass
class Document:
    """Blocks in order: ("heading", level, text), ("text", text), ("table", DataFrame)."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame.astype(str)))

    def to_markdown(self) -> str:
        parts = [f"# {self.title}"]
        for kind, *content in self.blocks:
            if kind == "heading":
                parts.append(f"{'#' * content[0]} {content[1]}")
            elif kind == "text":
                parts.append(content[0])
            else:
                parts.append(content[0].to_markdown(index=False, disable_numparse=True))
        return "\n\n".join(parts) + "\n"

    def to_html(self) -> str:
        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, *content in self.blocks:
            if kind == "heading":
                parts.append(f"<h{content[0]}>{html.escape(content[1])}</h{content[0]}>")
            elif kind == "text":
                parts.append(f"<p>{html.escape(content[0])}</p>")
            else:
                parts.append(content[0].to_html(index=False, border=0))
        body = "\n".join(parts)
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
