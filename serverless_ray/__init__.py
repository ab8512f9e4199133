"""serverless-ray: SageMaker Serverless Inference semantics and wire API on Ray Serve.

Python users declare endpoints with :func:`endpoint` and start them with :func:`run`;
everyone else uses the SageMaker API (``serverless-ray up``).
"""

from serverless_ray.decorator import EndpointApp, EndpointHandle, endpoint, run

__version__ = "0.1.0"
__all__ = ["EndpointApp", "EndpointHandle", "endpoint", "run"]
