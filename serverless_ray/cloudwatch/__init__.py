"""The CloudWatch metrics API (``GetMetricStatistics``, ``GetMetricData``, ``ListMetrics``)
over the platform's durable metric store. The operations run in the controller
(``service.py``, shapes in ``spec.py``); the wire protocols clients speak (JSON 1.0
query-compatible, the form-encoded query protocol with XML, RPC v2 CBOR) are translated
at the gateway (``wire.py``)."""
