"""Rewrite the golden summaries (see ``tests/golden/cases.py`` for when that is allowed)."""

from __future__ import annotations

import json
import sys

from tests.golden.cases import CASES, figures, golden_path


def main(names: list[str]) -> int:
    for name in names or list(CASES):
        if name not in CASES:
            print(f"regen: unknown case {name!r}; known: {', '.join(CASES)}", file=sys.stderr)
            return 2
        golden_path(name).write_text(json.dumps(figures(name), indent=1, sort_keys=True) + "\n")
        print(f"wrote {golden_path(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
