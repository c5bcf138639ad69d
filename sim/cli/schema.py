"""``hivesim schema``: print the JSON Schema of scenario files (for editors)."""

from __future__ import annotations

import json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from sim.results.writer import atomic_write_text
    from sim.scenario import json_schema
    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out:
        from sim.results.writer import check_output
        check_output(args.out, "file", exist_ok=True)
        atomic_write_text(args.out, text)
    else:
        print(text, end="")
    return 0
