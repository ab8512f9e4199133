"""CreateModel and friends (wire reference §2.2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from serverless_ray.spec.common import TagList, WireModel
from serverless_ray.spec import names as n
from serverless_ray.spec.container_environment import check_conventions


class ContainerDefinition(WireModel):
    """One container of a model: the image, the model data and its environment."""

    Image: n.Image | None = Field(
        None,
        description="Image URI: a SageMaker framework container's image (XGBoost, scikit-learn, PyTorch, Hugging Face, "
        "TensorFlow Serving) "
        "decides how the model is served; any other image runs the model's inference script.",
    )
    ModelDataUrl: n.ModelDataUrl | None = Field(
        None, description="model.tar.gz (s3://, https://, file:// or a local path) or an unpacked directory."
    )
    Environment: dict[n.EnvironmentKey, n.EnvironmentValue] = Field(
        default_factory=dict, max_length=100, description="Environment variables visible to the model code."
    )
    ModelPackageName: n.ModelPackageRef | None = Field(
        None, description="A registered model package (name or ARN) whose containers this model runs."
    )
    Mode: Literal["SingleModel", "MultiModel"] = Field("SingleModel", description="Hosting mode.")
    ContainerHostname: str | None = Field(None, max_length=63)
    ImageConfig: dict[str, Any] | None = None
    ModelDataSource: dict[str, Any] | None = None
    MultiModelConfig: dict[str, Any] | None = None
    InferenceSpecificationName: str | None = None

    @model_validator(mode="after")
    def _container_conventions(self):
        check_conventions(self.Environment)  # a ValueError names the variable and what is allowed
        return self


class CreateModelInput(WireModel):
    ModelName: n.ModelName = Field(description="Unique (case-insensitive) model name.")
    PrimaryContainer: ContainerDefinition | None = None
    Containers: list[ContainerDefinition] | None = Field(None, min_length=1, max_length=15)
    ExecutionRoleArn: n.ExecutionRoleArn | None = None
    Tags: TagList = Field(default_factory=list, description="Tags of the new resource (up to 50).")
    VpcConfig: dict[str, Any] | None = None
    EnableNetworkIsolation: bool | None = None
    InferenceExecutionConfig: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_container_source(self):
        if self.PrimaryContainer is None and not self.Containers:
            raise ValueError("Either PrimaryContainer or Containers must be specified for model '%s'." % self.ModelName)
        if self.PrimaryContainer is not None and self.Containers:
            raise ValueError("Specify either PrimaryContainer or Containers for model '%s', not both." % self.ModelName)
        return self

    @property
    def containers(self) -> list[ContainerDefinition]:
        """The containers in order; a one-element ``Containers`` list is the primary container."""
        return [self.PrimaryContainer] if self.PrimaryContainer is not None else list(self.Containers or [])


class ModelNameInput(WireModel):
    ModelName: n.ModelName
