"""Formatting primitives every text view shares: durations, bytes, colour, cells."""

from __future__ import annotations

CPU_WARN = 90.0
DOTS = 24  # a `name....: value` line's name column


def fmt_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f}s"
    if ms >= 100:
        return f"{ms:.0f}ms"
    if ms >= 1:
        return f"{ms:.2f}ms"
    return f"{ms * 1000:.0f}µs"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def ms_cell(ms: float | None) -> str:
    """A table cell in milliseconds, at most 6 characters; `–` when there is no data."""
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def line(name: str, value: str, indent: int = 4) -> str:
    return f"{' ' * indent}{name}{'.' * max(DOTS - len(name), 2)}: {value}"


def tick_label(ms: float) -> str:
    """Round tick values need no decimals: 1ms, 20ms, 500µs, 2s."""
    if ms >= 1000:
        return f"{ms / 1000:g}s"
    if ms >= 1:
        return f"{ms:g}ms"
    return f"{ms * 1000:g}µs"


class Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def ok(self, ok: bool) -> str:
        return self("✓", "32") if ok else self("✗", "31")
