"""Metering and pricing as SageMaker bills Serverless Inference (pure: no Ray, no I/O
beyond reading a price file).

What an invocation uses (:mod:`.meter`), what provisioned concurrency uses over time
(:mod:`.provisioned`), the published prices (:mod:`.prices`), usage added up in
time buckets per endpoint and variant (:mod:`.usage`) and kept durable and cluster-wide
by the controller (:mod:`.book`). The gateways meter, the controller prices and keeps.
"""
