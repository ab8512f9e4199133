"""Durable state: every accepted mutation is committed to SQLite before the reply."""

from serverless_ray.store.records import (
    Deployment,
    EndpointConfigRecord,
    EndpointRecord,
    ModelPackageGroupRecord,
    ModelPackageRecord,
    ModelRecord,
    StoredRecord,
    TagSet,
)
from serverless_ray.store.sqlite import Store, Table

__all__ = [
    "Deployment", "EndpointConfigRecord", "EndpointRecord", "ModelPackageGroupRecord", "ModelPackageRecord",
    "ModelRecord", "Store", "StoredRecord", "Table", "TagSet",
]
