"""hivesim: high-availability simulator and chaos benchmark for cell-based distributed banks.

Folders follow the pipeline: ``scenario`` (language) -> ``model`` (the bank as components)
-> ``engine`` (SimPy events, fluid traffic accounting) -> ``metrics`` (estimators, CIs)
-> ``results`` (the summary.json contract) -> ``report``/``gate``/``compare``/``sweep``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
