"""Numbers as people read them in tables and reports."""

from __future__ import annotations


def human_count(count: int | float | None) -> str:
    """``6.16M`` for 6163712, ``1.49B``, ``512``; ``?`` when unknown (None or 0)."""
    if not count:
        return "?"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(int(count))
