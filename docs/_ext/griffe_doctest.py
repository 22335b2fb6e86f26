"""Griffe extension for the API reference: show ``>>>`` examples as code.

shenjing's docstrings write examples as doctest lines; Markdown would read ``>>>`` as three
nested quotes.  This wraps each run of ``>>>``/``...`` lines and the output lines after
them in a fenced ``pycon`` block before the docstring is rendered.
"""
from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    out, in_block = [], False
    for line in text.split("\n"):
        stripped = line.strip()
        starts = stripped.startswith((">>>", "..."))
        if starts and not in_block:
            out += ["", "```pycon"]
            in_block = True
        elif in_block and not stripped:
            out.append("```")
            in_block = False
        out.append(stripped if in_block else line)
    if in_block:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
