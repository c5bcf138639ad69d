"""The results contract (docs/results-contract.md): one owner for what runs write and readers read.

* ``schema``: summary header, the ``run`` block builder, CSV columns, the key registry (label,
  unit, better direction, format of every summary key readers show or judge);
* ``formatting``: how every figure reads (``format_value`` by the registry, deltas, thresholds);
* ``writer``: the one atomic writer (simulator, live, prediction, sweep and compare directories);
* ``reader``: the one reader of run directories, simulated and live (``Run``);
* ``lookup``: dotted keys (``cells[3].nines``) and the interval convention (``ci_key``).
"""

from sim.results.lookup import MISSING, ci_key, ci_of, flat_keys, lookup, lookup_optional
from sim.results.reader import Run, load_live_run, load_run, load_summary
from sim.results.schema import run_block, summary_header
from sim.results.writer import (StagedDir, atomic_dir, atomic_write_text, default_run_dir, dumps_json, json_safe,
                                new_run_id, write_run_dir)

__all__ = ["MISSING", "ci_key", "ci_of", "flat_keys", "lookup", "lookup_optional", "Run", "load_live_run",
           "load_run", "load_summary", "run_block", "summary_header", "StagedDir", "atomic_dir",
           "atomic_write_text", "default_run_dir", "dumps_json", "json_safe", "new_run_id", "write_run_dir"]
