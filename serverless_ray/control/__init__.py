"""Control plane: the SageMaker hosting operations, their durable lifecycle, and the
reconciliation of endpoints onto Ray Serve."""
