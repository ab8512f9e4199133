"""Model runtime: fetching model data and running SageMaker-style handlers.

* :func:`materialize` turns a ``ModelDataUrl`` into a local model directory.
* :class:`InferenceHandler` loads ``code/inference.py`` from that directory and
  runs requests through ``model_fn`` / ``input_fn`` / ``predict_fn`` /
  ``output_fn`` (or ``transform_fn``).
* :mod:`.codecs` holds the default request/response codecs.
"""

from .artifacts import ArtifactError, materialize, read_requirements
from .codecs import UnsupportedFormatError, decode, encode, media_type
from .handler import InferenceHandler, InvocationResult
from .usercode import InvalidHandlerError, InvocationContext, ModelLoadError

__all__ = [
    "ArtifactError",
    "InferenceHandler",
    "InvalidHandlerError",
    "InvocationContext",
    "InvocationResult",
    "ModelLoadError",
    "UnsupportedFormatError",
    "decode",
    "encode",
    "materialize",
    "media_type",
    "read_requirements",
]
