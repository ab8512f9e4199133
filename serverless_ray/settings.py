"""Platform settings: one validated object built by the CLI and handed to every part."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serverless_ray.auth.credentials import Credentials, Principal, credentials_path_from_env, load_credentials
from serverless_ray.auth.tls import check_tls_files
from serverless_ray.quota.limits import DEFAULT_MAX_ENDPOINTS, default_pool

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"


class PlatformSettings(BaseModel):
    """Everything `serverless-ray up` can be told. Defaults are safe: loopback only."""

    model_config = ConfigDict(frozen=True)

    host: str = Field("127.0.0.1", description="Address the entry point binds to.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the entry point (0 picks a free one).")
    state_dir: Path = Field(Path(".state"), description="Directory holding the SQLite state.")
    region: str = Field(DEFAULT_REGION, description="Region named in ARNs and used for quota defaults.")
    account_id: str = Field(
        DEFAULT_ACCOUNT_ID, pattern=r"^\d{12}$", description="12-digit account id named in ARNs."
    )
    ray_address: str | None = Field(
        None, description="Join this Ray cluster instead of starting an embedded one."
    )
    num_cpus: int | None = Field(
        None, ge=1, description="Logical CPUs of the embedded Ray (default: this machine's cores)."
    )
    scale_to_zero_after_s: float = Field(
        60.0, ge=0, description="Seconds an on-demand replica stays warm after its last invocation."
    )
    vcpu_per_gb: float = Field(
        0.5, gt=0, le=16, description="vCPUs a replica reserves per GB of MemorySizeInMB."
    )
    artifact_cache_dir: Path = Field(
        Path(os.environ.get("SERVERLESS_RAY_CACHE", "/tmp/serverless-ray/artifacts")),
        description="Node-local directory where model data is unpacked once and reused.",
    )
    invocation_timeout_s: float = Field(
        60.0, gt=0, description="Longest a model may take to answer; past it the call fails and the replica "
        "running it is replaced, so the next call does not wait behind it."
    )
    model_ready_timeout_s: float = Field(
        180.0, gt=0, description="Longest a replica may take to load its model, download and unpack included "
        "(create, update, scale from zero and standby adoption alike)."
    )
    isolation: Literal["auto", "rlimit", "off"] = Field(
        "auto", description="How each replica is held to its tier: auto (a cgroup per replica for memory and "
        "CPU where the node allows it, else an address-space limit), rlimit (always the address-space limit), "
        "off (no limits; usage is still reported)."
    )
    ephemeral_storage_mb: int = Field(
        5120, ge=16, le=1024 * 1024,
        description="Private scratch disk of each replica (its TMPDIR and working directory), in MB.",
    )
    max_model_size_mb: int = Field(
        10 * 1024, ge=1, description="Largest unpacked size of a model archive, in MB; larger ones fail "
        "CreateEndpoint without being unpacked."
    )
    artifact_cache_mb: int = Field(
        20 * 1024, ge=1, description="Bound of each node's artifact cache, in MB; past it the models no replica "
        "on the node uses are evicted, least recently used first."
    )
    replica_runtime_dir: Path = Field(
        Path(os.environ.get("SERVERLESS_RAY_REPLICAS", "/tmp/serverless-ray/replicas")),
        description="Node-local directory holding each replica's record and scratch disk.",
    )
    max_payload_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Request and response size cap.")
    account_concurrency: int | None = Field(
        None, ge=1, description="Concurrent invocations across all serverless endpoints (default: the region's)."
    )
    max_endpoints: int = Field(
        DEFAULT_MAX_ENDPOINTS, ge=1, description="Most serverless endpoints the account may have."
    )
    enforce_concurrency_limits: bool = Field(
        True, description="Throttle invocations beyond MaxConcurrency and the account pool."
    )
    serve_control_loop_interval_s: float = Field(
        1.0, gt=0, le=10,
        description="How often Serve's controller reconciles (Serve's default is 0.1 s). Its "
        "work grows with the number of endpoints even when all are idle; cold starts do not "
        "wait for it (standbys answer them). Applied to the Ray cluster the platform starts; "
        "a joined cluster takes RAY_SERVE_CONTROL_LOOP_INTERVAL_S from its own environment.",
    )
    warm_pool_size: int = Field(
        2, ge=0, le=64,
        description="Model-less standby replicas kept started on each node; a cold endpoint's "
        "invocations are answered by one that adopts its model while Serve starts its replicas. "
        "0 turns the pool off.",
    )
    environment_standbys: int = Field(
        1, ge=0, le=16,
        description="Standby replicas kept started on each node in each framework container's "
        "runtime environment that an endpoint runs in (XGBoost, scikit-learn, PyTorch), with the framework "
        "imported, so that those endpoints' cold starts are adopted like any other's; 0 sends them "
        "to Serve. Needs the warm pool (--warm-pool-size above 0).",
    )
    prices_file: Path | None = Field(
        None,
        description="Price table (TOML) the cost meter prices usage with; default: SageMaker "
        "Serverless Inference's published us-east-1 rates (serverless_ray/billing/prices_us_east_1.toml).",
    )
    warm_pool_preload: tuple[str, ...] = Field(
        ("numpy",),
        description="Modules each standby imports in advance, so that models using them do not "
        "pay for the import at a cold start.",
    )

    credentials_file: Path | None = Field(
        None,
        description="Credentials file (YAML or JSON: principals with access keys and IAM policies). "
        "When set, every request but /healthz and /metrics must be signed (SigV4) and allowed by "
        "its principal's policy. Default: the file $SERVERLESS_RAY_CREDENTIALS names, if set.",
    )
    credentials: Credentials | None = Field(
        None, description="The principals, read from credentials_file when the settings are made "
        "(so that every node's gateway gets them without reading the file)."
    )
    allow_anonymous: bool = Field(
        False, description="Serve a non-loopback host without credentials (anyone who reaches the "
        "port can run code on the cluster: only for networks where that is intended).",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS on the same port.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    model_data_roots: tuple[Path, ...] = Field(
        (), description="With credentials: the only directories file:// and plain-path ModelDataUrls "
        "may name. Without credentials (loopback) every path is allowed.",
    )
    internal_principal: Principal | None = Field(
        None, description="The in-cluster callers' key (made when the platform starts with credentials).",
    )

    observability: bool = Field(
        True,
        description="Record CloudWatch metric datapoints of every invocation at the gateways and capture "
        "the replicas' output into their endpoints' log groups, both kept under the state directory. "
        "Off: the CloudWatch APIs answer with no datapoints and the log groups hold only the platform's "
        "lifecycle events; Prometheus series are still served.",
    )
    metrics_retention_days: float = Field(
        15.0, gt=0, le=455, description="Days metric datapoints are kept (one-minute resolution after the "
        "high-resolution window).",
    )
    metrics_high_resolution_s: int = Field(
        3 * 3600, ge=60, description="Seconds datapoints keep their one-second resolution before they are "
        "rolled up into minutes.",
    )
    log_retention_days: int | None = Field(
        30, ge=1, description="Days log events are kept in log groups without a retention policy "
        "(PutRetentionPolicy sets a group's own); None keeps them forever.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("credentials") is None:
            path = data.get("credentials_file") or credentials_path_from_env()
            if path:
                data = {**data, "credentials_file": path, "credentials": load_credentials(Path(path))}
        return data

    @model_validator(mode="after")
    def _safe_exposure(self):
        check_tls_files(self.tls_cert, self.tls_key)
        if self.credentials is None and not self.allow_anonymous and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without credentials: anyone who reaches the port "
                "could create models, which run code on the cluster. Give a credentials file "
                "(--credentials FILE or SERVERLESS_RAY_CREDENTIALS; see deployments/credentials.example.yaml), "
                "or pass --allow-anonymous if the network is trusted."
            )
        return self

    @model_validator(mode="after")
    def _pool_known(self):
        if self.account_concurrency is None:
            default_pool(self.region)  # raises, naming the regions that have a default
        return self

    @property
    def pool(self) -> int:
        """The account's serverless concurrency pool."""
        return self.account_concurrency or default_pool(self.region)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def database_path(self) -> Path:
        return self.state_dir / "serverless-ray.sqlite3"

    @property
    def metrics_path(self) -> Path:
        return self.state_dir / "metrics.sqlite3"

    @property
    def logs_path(self) -> Path:
        return self.state_dir / "logs.sqlite3"

    @property
    def prometheus_totals_path(self) -> Path:
        return self.state_dir / "prometheus-totals.json"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the port to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
