"""The credentials file: who may call the platform, with which keys and which policy.

.. code-block:: yaml

    principals:
      - name: ci-deployer
        access_key_id: AKIASERVERLESSRAY001
        secret_access_key: "...40 random characters..."
        policy:
          Statement:
            - {Effect: Allow, Action: ["sagemaker:*", "application-autoscaling:*"], Resource: "*"}

YAML or JSON (JSON is YAML). Secrets are held as ``SecretStr`` so that no repr, log line
or error message shows them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from serverless_ray.auth.policy import ALLOW_ALL, PolicyDocument

CREDENTIALS_ENV = "SERVERLESS_RAY_CREDENTIALS"
# The principal in-cluster callers (Python handles' `run`, the Serve keeper, `up --apply`)
# sign as; its key is made at start and never leaves the Ray cluster.
INTERNAL_NAME = "serverless-ray-internal"


class Principal(BaseModel):
    """One caller: an IAM-user-like name, its access key pair and its policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[\w+=,.@-]{1,64}$", description="User name, as in arn:aws:iam::<account>:user/<name>.")
    access_key_id: str = Field(pattern=r"^\w{16,128}$", description="Access key id clients sign with.")
    secret_access_key: SecretStr = Field(description="Secret key clients sign with (at least 16 characters).")
    policy: PolicyDocument = Field(description="IAM identity policy: what this principal may do.")
    @field_validator("secret_access_key")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < 16:
            raise ValueError("a secret_access_key has at least 16 characters")
        return secret

    def secret(self) -> str:
        return self.secret_access_key.get_secret_value()


class Credentials(BaseModel):
    """The principals of a credentials file, looked up by access key id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principals: list[Principal] = Field(min_length=1, description="Everyone who may call the platform.")

    @model_validator(mode="after")
    def _unique(self) -> "Credentials":
        for field in ("name", "access_key_id"):
            seen: set[str] = set()
            for principal in self.principals:
                value = getattr(principal, field)
                if value in seen:
                    shown = value if field == "name" else f"{value[:4]}…"
                    raise ValueError(f"two principals have the {field} {shown!r}; each must be unique")
                seen.add(value)
        return self

    def by_access_key(self) -> dict[str, Principal]:
        return {p.access_key_id: p for p in self.principals}


class CredentialsError(ValueError):
    """The credentials file cannot be read or is not valid (the message names the file and field)."""


def load_credentials(path: Path) -> Credentials:
    """Read and validate a credentials file (YAML or JSON)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).expanduser().read_text())
    except OSError as exc:
        raise CredentialsError(f"cannot read the credentials file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CredentialsError(f"the credentials file {path} is neither YAML nor JSON: {exc}") from None
    try:
        return Credentials.model_validate(data)
    except ValidationError as exc:
        # pydantic's messages show input values; a secret must not appear in them.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'file'}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise CredentialsError(f"the credentials file {path} is not valid: {problems}") from None


def credentials_path_from_env() -> Path | None:
    value = os.environ.get(CREDENTIALS_ENV)
    return Path(value) if value else None


def internal_principal() -> Principal:
    """A fresh in-cluster principal, allowed everything, with a random key pair."""
    return Principal(
        name=INTERNAL_NAME, access_key_id="SRINTERNAL" + secrets.token_hex(8).upper(),
        secret_access_key=SecretStr(secrets.token_urlsafe(32)), policy=ALLOW_ALL,
    )
