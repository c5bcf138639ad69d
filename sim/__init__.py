"""hivesim: high-availability simulator and chaos benchmark for cell-based distributed banks.

Folders follow the pipeline: ``scenario`` (language) -> ``model`` (the bank as components)
-> ``engine`` (SimPy events, fluid traffic accounting) -> ``metrics`` (estimators, CIs)
-> ``results`` (the summary.json contract) -> ``report``/``gate``/``compare``/``sweep``.

The Python API (docs/python-api.md, ``sim.api``)::

    import sim
    sc = sim.load_scenario("scenarios/webank-2023.yaml", ["simulation.replications=20"])
    summary = sim.simulate(sc, out="results/mine")        # the summary dict; the run directory too
    frames = sim.Run.open("results/mine").to_pandas()     # summary, replications, events, timeseries

Those three names are imported on first use: ``import sim`` stays light (no SimPy, NumPy or
pydantic until a scenario is loaded), and ``sim.results.schema`` can import ``__version__`` from
here without a cycle.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_scenario", "simulate", "Run"]

_API = ("load_scenario", "simulate", "Run")


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module
        value = getattr(import_module("sim.api"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
