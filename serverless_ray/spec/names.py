"""Constrained string types for names, ARNs and URLs (wire reference §2.1)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

ModelName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$")
]
EndpointName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
]
EndpointConfigName = EndpointName
VariantName = EndpointName

ExecutionRoleArn = Annotated[
    str,
    StringConstraints(
        min_length=20, max_length=2048, pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
    ),
]
Image = Annotated[str, StringConstraints(max_length=255, pattern=r"^[\S]+$")]
# AWS takes s3:// and https://; a platform on your own cluster also reads local model data.
ModelDataUrl = Annotated[
    str, StringConstraints(max_length=1024, pattern=r"^((https|s3)://([^/]+)/?(.*)|file://.+|/.*)$")
]
EnvironmentKey = Annotated[str, StringConstraints(max_length=1024, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
EnvironmentValue = Annotated[str, StringConstraints(max_length=1024)]
NameContains = Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-zA-Z0-9-]+$")]
NextToken = Annotated[str, StringConstraints(max_length=8192)]
KmsKeyId = Annotated[str, StringConstraints(max_length=2048)]

TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
