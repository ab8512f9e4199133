"""The price table: SageMaker Serverless Inference rates, with their date and source.

The default table (``prices_us_east_1.toml`` beside this module) holds the published
us-east-1 rates; ``serverless-ray up --prices FILE`` replaces it. Rates are what the
pricing page lists: USD per second at a memory size. A rate the table does not have is
``None`` (unpriced), never a guess: what it would price is still metered.
"""

from __future__ import annotations

import tomllib
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_PRICES = Path(__file__).with_name("prices_us_east_1.toml")
GB = 1024**3  # bytes in a data-processing GB (as AWS's benchmarking toolkit counts them)
MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)


class Component(str, Enum):
    """The parts of a Serverless Inference bill (``component`` label of the cost metric)."""

    COMPUTE = "compute"  # on-demand inference duration
    PROVISIONED_COMPUTE = "provisioned_compute"  # inference duration on provisioned capacity
    DATA_PROCESSING = "data_processing"  # request and response bytes
    PROVISIONED_CONCURRENCY = "provisioned_concurrency"  # capacity kept warm, used or not


class PriceTableError(ValueError):
    """A price file that cannot be read or does not have the table's layout."""


RatesByMemory = dict[int, float]


class PriceTable(BaseModel):
    """Rates of one region, and where they come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = Field(description="Region the rates apply to, e.g. us-east-1.")
    currency: str = Field("USD", description="Currency of every rate.")
    as_of: str = Field(description="When the rates were published or read (a date or a year).")
    source: str = Field(description="Where the rates come from.")
    note: str = Field("", description="What the table leaves out, and why.")
    on_demand_per_second: RatesByMemory = Field(
        description="USD per second of inference at each MemorySizeInMB (on-demand capacity)."
    )
    data_processing_per_gb: float = Field(ge=0, description="USD per GB (1024^3 bytes) of request plus response.")
    provisioned_per_second: RatesByMemory = Field(
        default_factory=dict,
        description="USD per second for each unit of provisioned concurrency at each MemorySizeInMB.",
    )
    provisioned_compute_per_second: RatesByMemory = Field(
        default_factory=dict,
        description="USD per second of inference served by provisioned concurrency at each MemorySizeInMB.",
    )

    @field_validator("on_demand_per_second", "provisioned_per_second", "provisioned_compute_per_second")
    @classmethod
    def _known_sizes(cls, rates: RatesByMemory) -> RatesByMemory:
        for memory, rate in rates.items():
            if memory not in MEMORY_SIZES_MB:
                raise ValueError(f"memory size {memory} is not one of {list(MEMORY_SIZES_MB)}")
            if rate < 0:
                raise ValueError(f"the rate at {memory} MB is negative")
        return rates

    @classmethod
    def load(cls, path: Path | str | None = None) -> "PriceTable":
        """The table in ``path`` (TOML), or the default one; ``PriceTableError`` naming the
        file and the field if it cannot be used."""
        path = Path(path) if path is not None else DEFAULT_PRICES
        try:
            document = tomllib.loads(path.read_text())
        except OSError as exc:
            raise PriceTableError(f"cannot read the price file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PriceTableError(f"the price file {path} is not valid TOML: {exc}") from None
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(step) for step in first["loc"]) or "(top level)"
            raise PriceTableError(f"the price file {path} is not a price table: {where}: {first['msg']}") from None

    # --- rates per GB-second ---------------------------------------------------------------

    def compute_per_gb_second(self, memory_mb: int, *, provisioned: bool = False) -> float | None:
        """USD per GB-second of inference at ``memory_mb`` (None: the table has no rate)."""
        rates = self.provisioned_compute_per_second if provisioned else self.on_demand_per_second
        return _per_gb(rates, memory_mb)

    def provisioned_per_gb_second(self, memory_mb: int) -> float | None:
        """USD per GB-second of provisioned concurrency at ``memory_mb`` (None: no rate)."""
        return _per_gb(self.provisioned_per_second, memory_mb)

    def priced(self) -> list[Component]:
        """Components this table has a rate for (at one memory size at least)."""
        return [c for c in Component if c not in self._without_rates()]

    def _without_rates(self) -> list[Component]:
        rates = {
            Component.COMPUTE: self.on_demand_per_second,
            Component.PROVISIONED_COMPUTE: self.provisioned_compute_per_second,
            Component.PROVISIONED_CONCURRENCY: self.provisioned_per_second,
        }
        return [component for component, by_size in rates.items() if not by_size]

    def unpriced(self) -> list[Component]:
        """Components this table has no rates for at some memory size."""
        missing = []
        for component, rates in (
            (Component.COMPUTE, self.on_demand_per_second),
            (Component.PROVISIONED_COMPUTE, self.provisioned_compute_per_second),
            (Component.PROVISIONED_CONCURRENCY, self.provisioned_per_second),
        ):
            if any(size not in rates for size in MEMORY_SIZES_MB):
                missing.append(component)
        return missing


def _per_gb(rates: RatesByMemory, memory_mb: int) -> float | None:
    rate = rates.get(memory_mb)
    return None if rate is None else rate / (memory_mb / 1024)
