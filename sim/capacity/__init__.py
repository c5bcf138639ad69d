"""Capacity, shedding and latency of each cell (``model``), latency histograms (``latency``)
and the bank's peak daily throughput (``throughput``)."""

from sim.capacity.latency import LATENCY_BINS_MS, IntervalEffect, latency_summary, percentiles_from_hist
from sim.capacity.model import CapacityModel
from sim.capacity.throughput import throughput_summary

__all__ = ["LATENCY_BINS_MS", "IntervalEffect", "CapacityModel", "percentiles_from_hist",
           "latency_summary", "throughput_summary"]
