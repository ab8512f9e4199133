"""The SQLite store: case-insensitive keys, CRUD and durability across reopening."""

import pytest

from serverless_ray.spec import CreateEndpointConfigInput, CreateModelInput, parse
from serverless_ray.store import EndpointConfigRecord, EndpointRecord, ModelRecord, Store


def model_record(name: str, created: float = 1.0, image: str = "python:3.11") -> ModelRecord:
    spec = parse(CreateModelInput, {"ModelName": name, "PrimaryContainer": {"Image": image}})
    return ModelRecord(name=name, arn=f"arn:aws:sagemaker:us-east-1:123456789012:model/{name.lower()}",
                       created=created, spec=spec)


def config_record(name: str) -> EndpointConfigRecord:
    spec = parse(CreateEndpointConfigInput, {
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m",
                                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 4}}],
    })
    return EndpointConfigRecord(name=name, arn=f"arn:config/{name.lower()}", created=2.0, spec=spec)


def endpoint_record(name: str, status: str = "Creating") -> EndpointRecord:
    return EndpointRecord(name=name, arn=f"arn:endpoint/{name.lower()}", created=3.0, modified=4.0, status=status)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "db.sqlite3"


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def test_new_store_is_empty_and_creates_its_directory(store, db_path):
    assert db_path.parent.is_dir()
    assert len(store.models) == len(store.endpoint_configs) == len(store.endpoints) == 0
    assert store.models.all() == []
    assert store.models.get("anything") is None


def test_insert_and_get_roundtrip(store):
    record = model_record("My-Model", created=12.5)
    assert store.models.insert("My-Model", record) is True
    got = store.models.get("My-Model")
    assert got == record
    assert got.spec.PrimaryContainer.Image == "python:3.11"


def test_get_is_case_insensitive(store):
    store.models.insert("My-Model", model_record("My-Model"))
    assert store.models.get("my-model").name == "My-Model"
    assert store.models.get("MY-MODEL").name == "My-Model"


@pytest.mark.parametrize("duplicate", ["My-Model", "my-model", "MY-MODEL"])
def test_insert_refuses_duplicates_case_insensitively(store, duplicate):
    store.models.insert("My-Model", model_record("My-Model", image="first"))
    assert store.models.insert(duplicate, model_record(duplicate, image="second")) is False
    assert len(store.models) == 1
    assert store.models.get("my-model").spec.PrimaryContainer.Image == "first"


def test_put_inserts_and_replaces(store):
    store.endpoints.put("Ep", endpoint_record("Ep", status="Creating"))
    store.endpoints.put("EP", endpoint_record("Ep", status="InService"))
    assert len(store.endpoints) == 1
    assert store.endpoints.get("ep").status == "InService"


def test_delete(store):
    store.models.insert("a", model_record("a"))
    assert store.models.delete("A") is True
    assert store.models.get("a") is None
    assert store.models.delete("a") is False
    assert len(store.models) == 0


def test_deleted_name_can_be_inserted_again(store):
    store.models.insert("a", model_record("a", image="old"))
    store.models.delete("a")
    assert store.models.insert("a", model_record("a", image="new")) is True
    assert store.models.get("a").spec.PrimaryContainer.Image == "new"


def test_all_len_and_iteration(store):
    for name in ["a", "b", "c"]:
        store.models.insert(name, model_record(name))
    assert len(store.models) == 3
    assert sorted(r.name for r in store.models.all()) == ["a", "b", "c"]
    assert sorted(r.name for r in store.models) == ["a", "b", "c"]


def test_tables_are_separate(store):
    store.models.insert("same", model_record("same"))
    assert store.endpoint_configs.insert("same", config_record("same")) is True
    assert store.endpoints.insert("same", endpoint_record("same")) is True
    assert (len(store.models), len(store.endpoint_configs), len(store.endpoints)) == (1, 1, 1)
    assert isinstance(store.endpoint_configs.get("same"), EndpointConfigRecord)
    assert store.endpoint_configs.get("same").spec.ProductionVariants[0].ServerlessConfig.MaxConcurrency == 4


def test_data_survives_reopening(db_path):
    first = Store(db_path)
    first.models.insert("Kept", model_record("Kept", created=7.0))
    first.endpoint_configs.insert("cfg", config_record("cfg"))
    first.endpoints.put("ep", endpoint_record("ep", status="InService"))
    first.models.insert("gone", model_record("gone"))
    first.models.delete("gone")
    first.close()

    second = Store(db_path)
    try:
        assert [r.name for r in second.models.all()] == ["Kept"]
        assert second.models.get("kept") == model_record("Kept", created=7.0)
        assert second.endpoint_configs.get("CFG").name == "cfg"
        assert second.endpoints.get("ep").status == "InService"
        assert second.models.insert("KEPT", model_record("KEPT")) is False
    finally:
        second.close()
