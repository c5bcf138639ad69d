"""Readers of run directories that answer a question, files in, files out.

* ``gate``: CI gates on one run (thresholds, windows, regressions against a baseline) -> exit code,
  JUnit XML, Markdown;
* ``compare``: several runs side by side -> compare.md, compare.html, overlay plots;
* ``sweep``: a scenario's variants run and tabulated -> table.csv, table.json, the frontier plot.

They read only the results contract (``sim.results``) and take key names, labels and better
directions from its key registry (``sim.results.schema``).
"""

__all__ = ["gate", "compare", "sweep"]
