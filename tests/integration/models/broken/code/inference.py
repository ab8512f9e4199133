"""Test model whose model_fn fails, as a model with corrupt weights would."""


def model_fn(model_dir):
    raise RuntimeError("weights.bin is corrupt")


def predict_fn(data, model):
    return data
