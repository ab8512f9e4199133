"""serverless-ray: SageMaker Serverless Inference semantics and wire API on Ray Serve."""

__version__ = "0.1.0"
