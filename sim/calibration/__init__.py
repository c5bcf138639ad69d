"""Calibration of the simulator on the live benchmark, and prediction of live runs.

One concept per module, in the order data flows:

* ``windows``: the live benchmark's fault windows and recovery figures (pure functions on
  per-request records; loadtests/analysis/recovery.py uses them for live runs);
* ``measure``: reading a recorded ``hivesim live`` run (its files only) and its figures;
* ``replay``: the closed-loop replay of the run's Locust users against a model gateway (the
  loop is ``sim.request.closed``; here its settings from a run, the recorded faults, the seeds);
* ``fit``: ``calibrate``: the outage per fault kind fitted so the replay reproduces the run;
* ``document``: the calibration YAML (write, load, check);
* ``predict``: ``predict_run``: a different run replayed with a calibration, measured vs predicted.

Plots of a prediction are ``sim.report.prediction``; ``hivesim calibrate`` / ``hivesim predict``
are sim/cli/calibrate.py and sim/cli/predict.py. See docs/calibration.md.
"""

__all__: list[str] = []
