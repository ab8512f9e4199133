"""What the platform records about itself for clients to read back: metric datapoints
(the CloudWatch metrics API reads them) and log events (the CloudWatch Logs API).

Runs in several processes: gateways record per-invocation datapoints
(``invocation_recorder.py``, ``recorder.py``) and ship them to the controller, which keeps
them durably (``metric_store.py``) and federates the gateways' Prometheus series
(``federation.py``). The aggregates and sketches (``sketch.py``, ``aggregate.py``), the
catalogue of metrics (``catalog.py``) and the statistics (``statistics.py``) are pure.
"""
