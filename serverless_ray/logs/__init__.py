"""CloudWatch Logs for endpoints: every replica's and standby's output, and the
platform's lifecycle events, in log group ``/aws/sagemaker/Endpoints/<EndpointName>``.

Replica and standby processes capture their own output (``capture.py``) and ship it to
the controller, which keeps it durably (``store.py``) and serves the Logs API
(``service.py``, shapes in ``spec.py``, filter patterns in ``patterns.py``).
``serverless-ray logs`` reads them back through that API (``command.py``).
"""
