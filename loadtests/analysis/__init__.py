"""Turning what a live run recorded into the results contract.

``records``  -- the files Locust processes write (one request row per HTTP request, one
                transfer line per transfer with its final client-side outcome);
``recovery`` -- per fault: time from the first failed request to steady success again;
``summary``  -- summary.json / timeseries.csv / events.csv for ``kind: live`` runs.
"""
