"""Which SageMaker framework container an image URI names, and at which version.

SageMaker picks a model's serving stack from its container image: the built-in XGBoost
algorithm, the XGBoost, scikit-learn, PyTorch, Hugging Face and TensorFlow Serving
framework containers each have their own model loading and request formats. Here the
same decision is made from the URI alone, without pulling the image:
:func:`recognise` turns ``<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>`` into a
:class:`ServingImage`, or ``None`` for any other image (which keeps the inference-script
contract).

The URIs are those that the SageMaker Python SDK's ``image_uris.retrieve`` builds. The
registry account differs from region to region and partition to partition, so an image is
recognised by the shape of its host, its repository name and its tag grammar, never by
account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Framework(str, Enum):
    """A serving stack, as chosen by the container image."""

    #: The built-in XGBoost algorithm (repository ``xgboost``, tags ``1`` and ``latest``).
    XGBOOST_ALGORITHM = "xgboost-algorithm"
    #: The open-source XGBoost container (``sagemaker-xgboost``), in algorithm or framework mode.
    XGBOOST = "xgboost"
    #: The scikit-learn container (``sagemaker-scikit-learn``).
    SKLEARN = "sklearn"
    #: The PyTorch inference container (``pytorch-inference``).
    PYTORCH = "pytorch"
    #: The Hugging Face PyTorch inference container (``huggingface-pytorch-inference``).
    HUGGINGFACE = "huggingface"
    #: TensorFlow Serving (``tensorflow-inference``).
    TENSORFLOW = "tensorflow"


@dataclass(frozen=True)
class ServingImage:
    """A recognised framework container image.

    ``version`` is the framework version as the image's tag spells it: the container
    version for XGBoost and scikit-learn (``"1.7-1"``, ``"1.2-1"``), the framework's own
    version otherwise (``"2.1"``, ``"2.13.0"``), the ``transformers`` version for Hugging
    Face (whose PyTorch version is ``pytorch_version``), ``"1"`` for the built-in
    algorithm. ``processor`` is ``"cpu"`` or ``"gpu"``; ``python`` is the tag's Python
    (``"py310"``, ``"py3"``) or ``None`` where the tag names none.
    """

    framework: Framework
    version: str
    processor: str
    python: str | None
    image: str
    pytorch_version: str | None = None


# The partitions' DNS suffixes for ECR registries: commercial, China, the two ISO
# partitions, the EU ISO-E and ISO-F partitions, and the European Sovereign Cloud.
_DOMAINS = (
    r"amazonaws\.com",
    r"amazonaws\.com\.cn",
    r"c2s\.ic\.gov",
    r"sc2s\.sgov\.gov",
    r"cloud\.adc-e\.uk",
    r"csp\.hci\.ic\.gov",
    r"amazonaws\.eu",
)
_HOST = re.compile(
    r"\d{12}\.dkr\.ecr(?:-fips)?\.[a-z]{2,4}(?:-[a-z]+)+-\d+\.(?:" + "|".join(_DOMAINS) + r")"
)
# A tag may be followed by a digest; the digest pins the bytes but says nothing more.
_REFERENCE = re.compile(r"(?P<host>[^/]+)/(?P<repository>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9_.-]{1,128})"
                        r"(?:@sha256:[0-9a-f]{64})?")

_RELEASE = r"\d+\.\d+(?:\.\d+)?"
# Deep Learning Containers append their build to the short tag
# (``2.1.0-gpu-py310-cu118-ubuntu20.04-sagemaker-v1.8``); it does not change the stack.
_BUILD = r"(?:-[a-z0-9.]+)*"

# Tag grammars, from the SDK's image_uri_config and the tags its retrieve() formats.
_TAGS: dict[str, tuple[Framework, re.Pattern[str]]] = {
    "xgboost": (Framework.XGBOOST_ALGORITHM, re.compile(r"(?P<version>1|latest)")),
    # 1.0-1-cpu-py3, 1.7-1, and the Graviton builds 1.5-1-arm64
    "sagemaker-xgboost": (
        Framework.XGBOOST,
        re.compile(r"(?P<version>\d+\.\d+-\d+(?:-\d+)?)(?:-arm64)?(?:-(?P<processor>cpu|gpu)(?:-(?P<python>py\d+))?)?"),
    ),
    # 0.20.0-cpu-py3, 1.2-1-cpu-py3, 1.0-1-arm64-cpu-py3
    "sagemaker-scikit-learn": (
        Framework.SKLEARN,
        re.compile(r"(?P<version>\d+\.\d+(?:\.\d+|-\d+))(?:-arm64)?-(?P<processor>cpu|gpu)-(?P<python>py\d+)"),
    ),
    # 2.1-cpu-py310, 2.1.0-gpu-py310-cu118-ubuntu20.04-sagemaker
    "pytorch-inference": (
        Framework.PYTORCH,
        re.compile(rf"(?P<version>{_RELEASE})-(?P<processor>cpu|gpu)-(?P<python>py\d+){_BUILD}"),
    ),
    # 2.1-transformers4.37-cpu-py310-ubuntu22.04
    "huggingface-pytorch-inference": (
        Framework.HUGGINGFACE,
        re.compile(
            rf"(?P<pytorch>{_RELEASE})-transformers(?P<version>{_RELEASE})"
            rf"-(?P<processor>cpu|gpu)-(?P<python>py\d+){_BUILD}"
        ),
    ),
    # 2.13-cpu; TensorFlow Serving's tags name no Python, the Graviton ones do
    "tensorflow-inference": (
        Framework.TENSORFLOW,
        re.compile(rf"(?P<version>{_RELEASE})-(?P<processor>cpu|gpu)(?:-(?P<python>py\d+))?{_BUILD}"),
    ),
}
# The same stacks built for Graviton, and the TensorFlow Serving repository that the SDK
# names for TensorFlow 1.11-1.12: their serving behaviour is that of the repository above.
_TAGS["pytorch-inference-graviton"] = _TAGS["pytorch-inference"]
_TAGS["tensorflow-inference-graviton"] = _TAGS["tensorflow-inference"]
_TAGS["sagemaker-tensorflow-serving"] = _TAGS["tensorflow-inference"]

#: Repository name → the framework its images serve with.
RECOGNISED_REPOSITORIES: dict[str, Framework] = {repository: framework for repository, (framework, _) in _TAGS.items()}

# The built-in algorithm's "latest" is an alias of "1" (the SDK's version_aliases).
_ALIASES = {(Framework.XGBOOST_ALGORITHM, "latest"): "1"}


def recognise(image: object) -> ServingImage | None:
    """The framework container that ``image`` names, or ``None`` if it names none.

    Never raises: anything that is not a recognised ECR image URI, a Docker Hub image, a
    recognised repository with an unknown tag, a non-string, gives ``None``.
    """
    if not isinstance(image, str):
        return None
    reference = _REFERENCE.fullmatch(image)
    if reference is None or not _HOST.fullmatch(reference["host"]):
        return None
    known = _TAGS.get(reference["repository"])
    if known is None:
        return None
    framework, grammar = known
    tag = grammar.fullmatch(reference["tag"])
    if tag is None:
        return None
    fields = tag.groupdict()
    version = _ALIASES.get((framework, fields["version"]), fields["version"])
    return ServingImage(
        framework=framework,
        version=version,
        processor=fields.get("processor") or "cpu",
        python=fields.get("python"),
        image=image,
        pytorch_version=fields.get("pytorch"),
    )
