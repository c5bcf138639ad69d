"""The calibration YAML: ``calibration_document`` (with the fluid engine's failover),
``write_calibration`` (atomic, never overwrites), ``load_calibration`` (read by ``sim.files``, safe-loaded, checked).

A scenario uses the file with ``extends:`` (docs/calibration.md); ``hivesim predict
--calibration`` reads it. The fluid engine's ``failover``: detection = crash outage -
postmaster-kill outage, election + promotion = postmaster-kill outage.
"""

from __future__ import annotations

import math
import os

import numpy as np
import yaml

from sim.calibration.effects import HELD_BASE
from sim.errors import HivesimError, ResultsError
from sim.files import CALIBRATION_MAX_BYTES, read_text
from sim.results.writer import atomic_write_text
from sim.scenario.loader import load_yaml_text
from sim.scenario.mix import USER_KINDS

__all__ = ["calibration_document", "load_calibration", "write_calibration"]


def calibration_document(cal: dict, extends: str | None = None) -> dict:
    """The YAML document: ``calibration:`` plus the fluid engine's failover figures."""
    doc: dict = {}
    if extends:
        doc["extends"] = extends
    out = cal["outage_seconds"]
    fast = out.get("kill-postmaster")
    slow = out.get("crash", out.get("kill-patroni"))
    if fast is not None or slow is not None:
        fast = fast if fast is not None else slow
        slow = slow if slow is not None else fast
        doc["topology"] = {"cells": {"template": {"db": {"failover": {
            "detection": round(max(slow - fast, 0.0), 2),
            "election": round(fast / 2, 2), "promotion": round(fast / 2, 2)}}}}}
    doc["calibration"] = cal
    return doc


def load_calibration(path) -> dict:
    """The ``calibration`` section of a calibration YAML (safe-loaded, checked)."""
    text = read_text(path, "calibration YAML file", CALIBRATION_MAX_BYTES, HivesimError)
    data, _ = load_yaml_text(text, os.fspath(path))
    cal = data.get("calibration")
    if not isinstance(cal, dict):
        raise HivesimError(f"{path}: calibration: missing (write one with `hivesim calibrate RUN_DIR`)")
    for key in ("outage_seconds", "service_ms"):
        if not isinstance(cal.get(key), dict):
            raise HivesimError(f"{path}: calibration.{key}: expected a mapping, got {type(cal.get(key)).__name__}")
    for k in USER_KINDS:
        v = cal["service_ms"].get(k)
        if not isinstance(v, dict) or not all(isinstance(v.get(x), (int, float)) and v.get(x) > 0
                                             for x in ("median_ms", "sigma")):
            raise HivesimError(f"{path}: calibration.service_ms.{k}: expected {{median_ms: >0, sigma: >0}}, got {v!r}")
    for k, v in cal["outage_seconds"].items():
        if not isinstance(v, (int, float)) or v < 0:
            raise HivesimError(f"{path}: calibration.outage_seconds.{k}: expected seconds >= 0, got {v!r}")
        if k in HELD_BASE:  # a file written when the class was a whole length: its figure means another thing now
            raise HivesimError(f"{path}: calibration.outage_seconds.{k}: expected under outage_extra_seconds "
                               f"(the class is now the fault's hold plus an extra); re-run `hivesim calibrate`")
    for key in ("source", "throughput"):  # optional, read by predict
        if key in cal and not isinstance(cal[key], dict):
            raise HivesimError(f"{path}: calibration.{key}: expected a mapping, got {type(cal[key]).__name__}")
    rps = cal.get("throughput", {}).get("steady_ok_rps")
    if rps is not None and not (isinstance(rps, (int, float)) and not isinstance(rps, bool) and rps > 0):
        raise HivesimError(f"{path}: calibration.throughput.steady_ok_rps: expected requests/s > 0, got {rps!r}")
    extra = cal.get("outage_extra_seconds", {})
    if not isinstance(extra, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in extra.values()):
        raise HivesimError(f"{path}: calibration.outage_extra_seconds: expected a mapping of class -> seconds, "
                           f"got {extra!r}")
    factor = cal.get("latency_factor", {})
    if not isinstance(factor, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                                               for v in factor.values()):
        raise HivesimError(f"{path}: calibration.latency_factor: expected a mapping of class -> factor >= 0, "
                           f"got {factor!r}")
    samples = cal.get("outage_samples", {})
    if not isinstance(samples, dict):
        raise HivesimError(f"{path}: calibration.outage_samples: expected a mapping, got {type(samples).__name__}")
    for k, v in samples.items():
        low = float("-inf") if k in extra else 0  # a held class's samples are extras beyond its hold
        if not (isinstance(v, list) and v and all(isinstance(x, (int, float)) and x >= low for x in v)):
            raise HivesimError(f"{path}: calibration.outage_samples.{k}: expected a list of seconds >= 0, got {v!r}")
    return cal


def write_calibration(path, doc: dict, header: str = "") -> str:
    """Write the YAML atomically with the one results writer; never overwrite an existing file."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        raise ResultsError(f"{path}: already exists; choose another --out or remove it")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_text(path, header + yaml.safe_dump(_plain(doc), sort_keys=False), overwrite=False)
    return path


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
