"""The metrics the platform publishes, as SageMaker publishes them for serverless
endpoints: namespace, name, unit and dimensions."""

from __future__ import annotations

from dataclasses import dataclass

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ENDPOINT_NAMESPACE = "/aws/sagemaker/Endpoints"
DIMENSIONS = ("EndpointName", "VariantName")

MICROSECONDS = "Microseconds"
COUNT = "Count"
NONE = "None"
PERCENT = "Percent"


@dataclass(frozen=True)
class MetricKind:
    namespace: str
    name: str
    unit: str


def _sagemaker(name: str, unit: str) -> MetricKind:
    return MetricKind(SAGEMAKER_NAMESPACE, name, unit)


INVOCATIONS = _sagemaker("Invocations", NONE)
ERRORS_4XX = _sagemaker("Invocation4XXErrors", NONE)
ERRORS_5XX = _sagemaker("Invocation5XXErrors", NONE)
MODEL_ERRORS = _sagemaker("InvocationModelErrors", NONE)
MODEL_LATENCY = _sagemaker("ModelLatency", MICROSECONDS)
OVERHEAD_LATENCY = _sagemaker("OverheadLatency", MICROSECONDS)
MODEL_SETUP_TIME = _sagemaker("ModelSetupTime", MICROSECONDS)
CONCURRENT_UTILIZATION = _sagemaker("ServerlessConcurrentExecutionsUtilization", NONE)
PC_EXECUTIONS = _sagemaker("ServerlessProvisionedConcurrencyExecutions", COUNT)
PC_UTILIZATION = _sagemaker("ServerlessProvisionedConcurrencyUtilization", NONE)
PC_INVOCATIONS = _sagemaker("ServerlessProvisionedConcurrencyInvocations", COUNT)
PC_SPILLOVER = _sagemaker("ServerlessProvisionedConcurrencySpilloverInvocations", COUNT)
MEMORY_UTILIZATION = MetricKind(ENDPOINT_NAMESPACE, "MemoryUtilization", PERCENT)
CPU_UTILIZATION = MetricKind(ENDPOINT_NAMESPACE, "CPUUtilization", PERCENT)
DISK_UTILIZATION = MetricKind(ENDPOINT_NAMESPACE, "DiskUtilization", PERCENT)

ALL = (
    INVOCATIONS, ERRORS_4XX, ERRORS_5XX, MODEL_ERRORS, MODEL_LATENCY, OVERHEAD_LATENCY, MODEL_SETUP_TIME,
    CONCURRENT_UTILIZATION, PC_EXECUTIONS, PC_UTILIZATION, PC_INVOCATIONS, PC_SPILLOVER,
    MEMORY_UTILIZATION, CPU_UTILIZATION, DISK_UTILIZATION,
)


def variant_dimensions(endpoint: str, variant: str) -> tuple[tuple[str, str], ...]:
    """The dimensions of every endpoint metric, in CloudWatch's order."""
    return (("EndpointName", endpoint), ("VariantName", variant))
