"""The gateway process: the SageMaker wire protocols on one HTTP port of every node.

``POST /`` with ``X-Amz-Target`` goes to the controller; ``POST
/endpoints/{name}/invocations`` goes through the invocation service
(``invocations.py``), which Python handles use too; ``/healthz`` and ``/metrics`` are for
operators. Each gateway calls replicas directly through Serve deployment handles: one
hop, like Serve's own proxy. ``gateway_actor.py`` is the process's composition root;
``fleet.py`` is the controller's side, keeping one gateway per node.
"""
