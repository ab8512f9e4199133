"""Example SageMaker inference script: a tiny linear model.

It runs unchanged on SageMaker's framework containers: model_fn loads the weights,
input_fn/predict_fn/output_fn handle JSON ({"inputs": [[...], ...]}) and CSV rows.
"""

import json
import os

import numpy as np


def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as f:
        params = json.load(f)
    return {"w": np.array(params["w"]), "b": float(params["b"])}


def input_fn(request_body, request_content_type):
    if request_content_type.startswith("application/json"):
        data = json.loads(request_body)
        rows = data["inputs"] if isinstance(data, dict) else data
        return np.array(rows, dtype=float)
    if request_content_type.startswith("text/csv"):
        return np.array([[float(x) for x in line.split(",")] for line in request_body.strip().splitlines()])
    raise ValueError(f"unsupported content type {request_content_type!r}; send application/json or text/csv")


def predict_fn(input_data, model):
    if input_data.ndim != 2 or input_data.shape[1] != model["w"].shape[0]:
        raise ValueError(f"expected rows of {model['w'].shape[0]} features, got shape {list(input_data.shape)}")
    return input_data @ model["w"] + model["b"]


def output_fn(prediction, accept):
    if accept.startswith("text/csv"):
        return "\n".join(f"{p:.6g}" for p in prediction), "text/csv"
    return json.dumps({"predictions": [round(float(p), 6) for p in prediction]}), "application/json"
