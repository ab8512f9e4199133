"""The control plane, run by the controller process (``serverless_ray/controller.py``):
the SageMaker hosting operations, their durable lifecycle, and the reconciliation of
endpoints onto Ray Serve."""
