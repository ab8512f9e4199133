"""Request shapes of the platform's own operations (``X-Amz-Target: ServerlessRay.*``):
cost and usage, and the capacity of serverless endpoints. Not an AWS API; it speaks the
same awsJson protocol, so errors come back in the same shape."""

from __future__ import annotations

from pydantic import Field

from serverless_ray.spec import names as n
from serverless_ray.spec.common import WireModel


class GetCostAndUsageInput(WireModel):
    SinceSeconds: float | None = Field(
        None, gt=0, description="Only usage of the last this many seconds, counted in whole minutes; "
        "all of it if absent.",
    )
    EndpointName: n.EndpointName | None = Field(None, description="Only this endpoint's usage.")


class ListEndpointCapacityInput(WireModel):
    pass


class ReleaseWarmCapacityInput(WireModel):
    EndpointName: n.EndpointName = Field(description="The serverless endpoint whose keep-warm window ends now.")
