"""How every figure reads: one number format for console, report, compare, gate, sweep and Markdown.

``format_value(key, v)`` formats a summary figure by its registry entry (``sim.results.schema``:
unit and format), ``format_delta`` a difference of two runs, ``format_threshold`` a gate's value;
``format_number``, ``format_duration``, ``pct`` and ``fmt`` are the plain forms they build on, and
``compact`` a table cell holding a list or mapping. No scientific notation anywhere;
percentages carry the digits that matter (``pct_digits``: 99.99975 % keeps its nines).
"""

from __future__ import annotations

import json
import math

from sim.results.schema import spec_of

__all__ = ["fmt", "format_value", "format_extra_nine", "pct", "pct_digits", "compact", "format_number",
           "format_duration", "format_delta", "format_threshold"]

# Every figure any reader prints (console, report, compare, gate, sweep, Markdown) goes through
# ``format_value`` (``format_delta`` for differences, ``format_threshold`` for gate values), so one
# figure reads the same everywhere: no scientific notation, percentages with the digits that matter.
_BIG = ((1e12, "trillion"), (1e9, "billion"))


def format_number(v, unit: str = "", sig: int = 4) -> str:
    """A plain number for people: thousands separators, never ``1.5e+06``; ``43.9 billion`` for
    counts past a billion; small numbers with ``sig`` significant digits (``0.0001234``)."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if unit == "count":
        for scale, word in _BIG:
            if a >= scale:
                return f"{v / scale:.3g} {word}"
    if a >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    decimals = max(0, sig - 1 - int(math.floor(math.log10(a))))  # significant digits, fixed notation
    return f"{v:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{v:,.0f}"


def format_duration(seconds) -> str:
    """Seconds in human units: ``0.25 s``, ``42 s``, ``3 min 20 s``, ``2 h 5 min``, ``3.5 days``."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "-" if seconds is None or not isinstance(seconds, (int, float)) else str(seconds)
    s = float(seconds)
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 60:  # 3 significant digits: a wall time of 1.771 s reads 1.77 s
        return f"{sign}{s:.3g} s" if s >= 1e-3 else f"{sign}{format_number(s)} s"
    if s < 3600:
        m, r = divmod(round(s), 60)
        return f"{sign}{m} min" + (f" {r} s" if r else "")
    if s < 86400:
        h, r = divmod(round(s / 60), 60)
        return f"{sign}{h} h" + (f" {r} min" if r else "")
    return f"{sign}{s / 86400:,.3g} days"


def fmt(v) -> str:
    """A value of no known key: numbers with up to 8 significant digits (a fraction such as
    0.99999812 keeps its nines), never in scientific notation; anything else as text."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return format_number(v, sig=8)
    return str(v)


def pct_digits(a: float) -> int:
    """Decimals of a percentage that show where the first failure is (99.99751%: 5)."""
    return 2 if a >= 1 or a <= 0.99 else min(10, int(math.ceil(-math.log10(1 - a))) + 1)


def pct(a, digits: int | None = None) -> str:
    """An availability as a percentage with the digits that matter (``-`` for a non-number)."""
    if not isinstance(a, (int, float)) or isinstance(a, bool) or not math.isfinite(a):
        return "-"
    return f"{100 * a:.{pct_digits(a) if digits is None else digits}f}%"


def format_extra_nine(v) -> str:
    """``cost.per_extra_nine`` (an object): its yearly figure, or why there is none."""
    if not isinstance(v, dict):
        return fmt(v)
    if not v.get("significant"):
        return "not significant (the designs' CIs overlap)"
    per_year = v.get("per_year")
    return f"{per_year:,.0f} per year" if isinstance(per_year, (int, float)) else "-"


_UNIT_TEXT = {"tx/s": "tx/s", "ms": "ms", "min/yr": "min/yr", "per million": "per million",
              "per year": "per year"}


def format_value(key: str, v, unit: bool = False) -> str:
    """``v`` as people read ``key``: availabilities as percentages, nines with 2 decimals, rates and
    counts with thousands separators (billions in words), durations in human units.

    ``unit=True`` appends the key's unit (``1,526,154 tx/s``) for tables whose label has none.
    """
    spec = spec_of(key)
    if spec is not None and spec.format == "extra_nine":
        return format_extra_nine(v)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float, list, tuple)):
        return "-" if v is None else str(v)
    if spec is None and not isinstance(v, (list, tuple)):
        return fmt(v)  # no registered format: keep the digits
    kind = spec.format if spec else "number"
    if isinstance(v, (list, tuple)):
        inner = key if kind != "interval" else key.replace("nines_ci95", "nines").replace("ci95", "mean")
        ispec = spec_of(inner)
        if ispec and ispec.format == "pct":  # both ends with the digits the upper end needs
            ends = [x for x in v if isinstance(x, (int, float)) and math.isfinite(x)]
            d = max((pct_digits(x) for x in ends), default=2)
            return "[" + ", ".join(pct(x, d) for x in v) + "]"
        return "[" + ", ".join(format_value(inner, x) for x in v) + "]"
    if not math.isfinite(v):
        return fmt(v)
    if kind == "pct":
        return pct(v)
    if kind == "nines":
        return f"{v:.2f}"
    if kind == "duration":
        return format_duration(v)
    if kind == "int":
        return format_number(v, spec.unit if spec else "")
    text = format_number(v, spec.unit if spec else "")
    suffix = _UNIT_TEXT.get(spec.unit) if (unit and spec) else None
    return f"{text} {suffix}" if suffix else text


def _fixed(x: float, sig: int = 3) -> str:
    """``x`` in fixed notation with ``sig`` significant digits (``0.0000546``, ``12.3``)."""
    if x == 0 or not math.isfinite(x):
        return fmt(x)
    decimals = max(0, sig - 1 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_delta(key: str, d) -> str:
    """A signed difference of ``key``, in the key's unit: availabilities in percentage points
    (``-0.0000546 pp``), durations in human units, everything else as ``format_value``."""
    if not isinstance(d, (int, float)) or isinstance(d, bool) or not math.isfinite(d):
        return fmt(d)
    spec = spec_of(key)
    sign = "+" if d > 0 else "-" if d < 0 else ""  # no change reads "0", not "+0"
    if spec is not None and spec.format == "pct":
        return f"{sign}{_fixed(abs(100 * d))} pp"
    if spec is not None and spec.format == "nines":
        return f"{sign}{abs(d):.2f}"
    return sign + format_value(key, abs(d), unit=False)


def format_threshold(key: str, v) -> str:
    """A gate's value as its author wrote it: ``99.99%`` for availabilities (no padding zeros),
    plain numbers otherwise."""
    spec = spec_of(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and spec is not None \
            and spec.format == "pct":
        return f"{100 * v:.10f}".rstrip("0").rstrip(".") + "%"
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and not float(v).is_integer():
        return f"{v:.10f}".rstrip("0").rstrip(".")
    return fmt(v)


def compact(v):
    """A table cell of a list or mapping: its JSON text (numbers and text unchanged)."""
    return json.dumps(v) if isinstance(v, (list, dict)) else v
