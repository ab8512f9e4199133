"""The SageMaker Python SDK v2 as its users run it, pointed at the platform.

The SDK is configured the way any boto3-based tool is: per-service endpoint URLs in the
environment (AWS_ENDPOINT_URL_SAGEMAKER / _SAGEMAKER_RUNTIME for the platform,
AWS_ENDPOINT_URL_S3 for a local moto server). S3 is real work for the SDK here: it
creates its default bucket, downloads the model data, repacks it with the inference
script and uploads the result, which the platform then fetches.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from conftest import EXAMPLE_MODEL
from support import ROLE, SDK_DEFAULTS, in_s3, model_archive, unique

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"


def _weights_only_model(tmp_path: Path) -> str:
    """Trained artifacts without code, in S3: the SDK adds the inference script itself."""
    archive = model_archive(tmp_path, {"weights.json": (EXAMPLE_MODEL / "weights.json").read_bytes()})
    return in_s3(archive, "s3://training-output/linear/model.tar.gz")


def test_sdk_deploys_serverless_predicts_and_deletes(sdk_environment, tmp_path):
    import sagemaker
    from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer, JSONSerializer
    from sagemaker.serverless import ServerlessInferenceConfig

    session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), sagemaker_config=SDK_DEFAULTS)
    model = Model(
        image_uri=IMAGE,
        model_data=_weights_only_model(tmp_path),
        role=ROLE,
        entry_point="inference.py",
        source_dir=str(EXAMPLE_MODEL / "code"),
        predictor_cls=Predictor,
        sagemaker_session=session,
    )
    name = unique("sdk")
    predictor = model.deploy(
        serverless_inference_config=ServerlessInferenceConfig(memory_size_in_mb=1024, max_concurrency=2),
        endpoint_name=name, wait=False,
    )
    try:
        described = session.wait_for_endpoint(name, poll=1)
        assert described["EndpointStatus"] == "InService"
        assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == {
            "MemorySizeInMB": 1024, "MaxConcurrency": 2}
        # The SDK repacked model data and script into its default bucket.
        container = session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]
        assert container["ModelDataUrl"].startswith("s3://sagemaker-artifacts/")
        assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"

        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        assert predictor.predict({"inputs": [[1, 2, 3], [0, 0, 0]]}) == {"predictions": [4.75, 0.25]}

        csv = Predictor(name, sagemaker_session=session, serializer=CSVSerializer(), deserializer=CSVDeserializer())
        assert csv.predict([[1, 2, 3], [1, 1, 1]]) == [["4.75"], ["1.75"]]
    finally:
        predictor.delete_endpoint()
    with pytest.raises(session.sagemaker_client.exceptions.ClientError, match="Could not find endpoint configuration"):
        session.sagemaker_client.describe_endpoint_config(EndpointConfigName=name)
    session.sagemaker_client.get_waiter("endpoint_deleted").wait(
        EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    model.delete_model()
