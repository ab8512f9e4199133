"""The image decides the serving stack.

* :mod:`.images` recognises a SageMaker framework container's image URI
  (:func:`~.images.recognise` → :class:`~.images.ServingImage`, or ``None`` for an image
  that keeps the inference-script contract).
* :mod:`.packages` names the pip requirements of the Ray runtime environment that serves
  a recognised image (:func:`~.packages.requirements`).
* :mod:`.xgboost_codecs` and :mod:`.huggingface_codecs` decode requests and encode
  responses as the XGBoost and Hugging Face containers do; :mod:`.recordio` reads and writes SageMaker's RecordIO-protobuf bodies.

Nothing here imports a framework, Ray, boto3 or yaml: these modules decide, the runtime
environments run.
"""

from .images import Framework, ServingImage, recognise
from .packages import requirements, with_model_requirements

__all__ = ["Framework", "ServingImage", "recognise", "requirements", "with_model_requirements"]
