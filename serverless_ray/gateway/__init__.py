"""Entry points: the SageMaker wire protocols on one HTTP port.

``POST /`` with ``X-Amz-Target: SageMaker.*`` goes to the control plane;
``POST /endpoints/{name}/invocations`` is the runtime; ``/healthz`` and ``/metrics``
are for operators. One gateway actor runs per node and calls replicas directly through
Serve deployment handles: one hop, like Serve's own proxy.
"""
