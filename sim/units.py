"""Values with units, as scenario files write them.

Internally hivesim uses SI-ish base units: durations in **seconds**, rates in **events per
second**, fractions in [0, 1]. Scenario files may write ``30s``, ``5m``, ``4h``, ``365d``,
``1y``; ``2/yr``, ``1_000_000_000/day``; ``99.999%``. A bare number is taken in the base unit.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "parse_rate", "parse_fraction", "parse_number",
           "SECONDS", "YEAR", "DAY", "HOUR", "format_duration"]

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
YEAR = 365.0 * DAY  # the availability literature's year: 525,600 minutes

SECONDS = {
    "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": MINUTE, "min": MINUTE, "h": HOUR, "hr": HOUR,
    "d": DAY, "day": DAY, "days": DAY, "w": 7 * DAY, "wk": 7 * DAY, "y": YEAR, "yr": YEAR,
    "year": YEAR,
}

_NUM = r"[+-]?(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_DUR_RE = re.compile(rf"^\s*({_NUM})\s*([a-zA-Z]+)?\s*$")
_RATE_RE = re.compile(rf"^\s*({_NUM})\s*(%)?\s*(?:/|per\s+)\s*({_NUM})?\s*([a-zA-Z]+)\s*$")
_PCT_RE = re.compile(rf"^\s*({_NUM})\s*%\s*$")


def parse_number(value) -> float:
    """A plain finite number (``1_000_000``, ``2.5e3``); rejects NaN and infinities."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        s = value.strip().replace("_", "")
        try:
            x = float(s)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if s.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(f"expected a finite number, got {value!r}")
    else:
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(x):
        raise ValueError(f"expected a finite number, got {value!r}")
    return x


def _num(text: str) -> float:
    return parse_number(text.replace("_", ""))


def parse_duration(value) -> float:
    """A duration in seconds: ``30s``, ``5m``, ``4h``, ``365d``, ``1y``, ``250ms``; a bare number is seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = parse_number(value)
    elif isinstance(value, str):
        m = _DUR_RE.match(value)
        if not m:
            raise ValueError(f"expected a duration such as 30s, 5m, 4h, 365d, got {value!r}")
        unit = (m.group(2) or "s").lower()
        if unit not in SECONDS:
            raise ValueError(f"unknown time unit {m.group(2)!r} in {value!r} (use ms, s, m, h, d, w, y)")
        x = _num(m.group(1)) * SECONDS[unit]
    else:
        raise ValueError(f"expected a duration such as 30s, 5m, 4h, 365d, got {value!r}")
    if not math.isfinite(x):  # 1e302y overflows once converted to seconds
        raise ValueError(f"expected a finite duration, got {value!r} (overflows in seconds)")
    if x < 0:
        raise ValueError(f"expected a duration >= 0, got {value!r}")
    return x


def parse_rate(value) -> float:
    """A rate in events per second: ``2/yr``, ``1_000_000_000/day``, ``5%/yr``, ``1 per 1000h``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = parse_number(value)
    elif isinstance(value, str):
        m = _RATE_RE.match(value)
        if not m:
            raise ValueError(f"expected a rate such as 2/yr or 1_000_000/day, got {value!r}")
        count = _num(m.group(1)) * (0.01 if m.group(2) else 1.0)
        per = _num(m.group(3)) if m.group(3) else 1.0
        unit = m.group(4).lower()
        if unit not in SECONDS:
            raise ValueError(f"unknown time unit {m.group(4)!r} in {value!r} (use s, m, h, d, w, yr)")
        if per <= 0:
            raise ValueError(f"expected a positive period in {value!r}")
        x = count / (per * SECONDS[unit])
    else:
        raise ValueError(f"expected a rate such as 2/yr, got {value!r}")
    if not math.isfinite(x):  # 1e308/ms overflows once converted to per-second
        raise ValueError(f"expected a finite rate, got {value!r} (overflows per second)")
    if x < 0:
        raise ValueError(f"expected a rate >= 0, got {value!r}")
    return x


def parse_fraction(value) -> float:
    """A fraction in [0, 1]: ``0.3``, ``30%``, ``99.999%``."""
    if isinstance(value, str) and "%" in value:
        m = _PCT_RE.match(value)
        if not m:
            raise ValueError(f"expected a percentage such as 99.9%, got {value!r}")
        x = _num(m.group(1)) / 100.0
    else:
        x = parse_number(value)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"expected a fraction between 0 and 1 (or 0%-100%), got {value!r}")
    return x


def format_duration(seconds: float) -> str:
    """Short human form of a duration (for tables): ``30s``, ``5.0m``, ``4.0h``, ``365d``."""
    s = float(seconds)
    if s < 120:
        return f"{s:.3g}s"
    if s < 2 * HOUR:
        return f"{s / MINUTE:.3g}m"
    if s < 2 * DAY:
        return f"{s / HOUR:.3g}h"
    return f"{s / DAY:.4g}d"
