"""HTTPS on the gateway's port: the certificate and key files, checked once and handed to uvicorn."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


def check_tls_files(cert: Path | None, key: Path | None) -> None:
    """``ValueError`` unless both or neither are given and they load as a certificate
    chain and its private key (so that a bad file stops ``up``, not a gateway later)."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together: give both (PEM files) to serve HTTPS")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate {cert} with key {key}: {exc}") from None


def uvicorn_tls_options(cert: Path | None, key: Path | None) -> dict[str, Any]:
    """uvicorn.Config keyword arguments for HTTPS (none for plain HTTP)."""
    if cert is None or key is None:
        return {}
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
