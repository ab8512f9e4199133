"""Constrained string types for names, ARNs and URLs (wire reference §2.1)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

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

# Letters, separators and numbers of any script, and _.:/=+-@ (AWS's \p{L}\p{Z}\p{N} classes,
# which Python's re module lacks, so the characters are checked by Unicode category).
TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"


def _tag_text(value: str) -> str:
    for ch in value:
        if ch not in "_.:/=+-@" and unicodedata.category(ch)[0] not in "LZN":
            raise PydanticCustomError(
                "string_pattern_mismatch", "String should match pattern '{pattern}'", {"pattern": TAG_PATTERN}
            )
    return value


TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_tag_text)]
TagValue = Annotated[str, StringConstraints(max_length=256), AfterValidator(_tag_text)]

# Model registry (wire reference §2.2 ModelPackageName; botocore's shapes for the rest).
# AWS's patterns end in a look-behind (no trailing hyphen); written here without one.
_ENTITY = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_ARN_PREFIX = r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/"
ModelPackageGroupName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
ModelPackageGroupRef = Annotated[
    str, StringConstraints(min_length=1, max_length=170, pattern=rf"^({_ARN_PREFIX})?{_ENTITY}$")
]
ModelPackageRef = Annotated[
    str, StringConstraints(min_length=1, max_length=176, pattern=rf"^({_ARN_PREFIX})?{_ENTITY}(/[0-9]{{1,9}})?$")
]
ModelPackageArn = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=2048, pattern=r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/\S{1,2048}$"
    ),
]
Description = Annotated[str, StringConstraints(max_length=1024)]
SageMakerArn = Annotated[
    str, StringConstraints(max_length=256, pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+$")
]
