"""List* filters, sorting and pagination as boto3's paginators use them."""

from __future__ import annotations

import time

from support import unique, wait_in_service


def test_list_models_and_configs_paginate(sm, deployer, model_urls):
    tag = unique("pg")
    names = [deployer.model(model_urls["linear"], name=f"{tag}-{i}") for i in range(2)]
    time.sleep(1.1)  # botocore sends timestamp filters in whole seconds
    names += [deployer.model(model_urls["linear"], name=f"{tag}-{i}") for i in range(2, 5)]
    pages = list(sm.get_paginator("list_models").paginate(
        NameContains=tag, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}))
    assert [len(p["Models"]) for p in pages] == [2, 2, 1]
    assert "NextToken" not in pages[-1]
    assert [m["ModelName"] for p in pages for m in p["Models"]] == names

    newest_first = sm.list_models(NameContains=tag.upper())["Models"]  # case-insensitive
    assert [m["ModelName"] for m in newest_first] == list(reversed(names))

    cutoff = sm.describe_model(ModelName=names[2])["CreationTime"]
    after = sm.list_models(NameContains=tag, CreationTimeAfter=cutoff)["Models"]
    assert {m["ModelName"] for m in after} == set(names[2:])
    before = sm.list_models(NameContains=tag, CreationTimeBefore=cutoff)["Models"]
    assert {m["ModelName"] for m in before} == set(names[:2])

    configs = [deployer.config(names[0], name=f"{tag}-c{i}") for i in range(3)]
    listed = sm.list_endpoint_configs(NameContains=tag, SortBy="Name", SortOrder="Descending", MaxResults=2)
    assert [c["EndpointConfigName"] for c in listed["EndpointConfigs"]] == configs[::-1][:2]
    rest = sm.list_endpoint_configs(
        NameContains=tag, SortBy="Name", SortOrder="Descending", MaxResults=2, NextToken=listed["NextToken"])
    assert [c["EndpointConfigName"] for c in rest["EndpointConfigs"]] == [configs[0]]


def test_list_endpoints_filters_and_pages(sm, deployer, model_urls):
    tag = unique("le")
    config = deployer.config(deployer.model(model_urls["linear"]))
    names = [deployer.endpoint(config, name=f"{tag}-{i}", wait=False) for i in range(3)]
    for name in names:
        wait_in_service(sm, name)

    pages = list(sm.get_paginator("list_endpoints").paginate(
        NameContains=tag, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}))
    listed = [e for p in pages for e in p["Endpoints"]]
    assert [e["EndpointName"] for e in listed] == names
    assert all(e["EndpointStatus"] == "InService" for e in listed)
    assert set(listed[0]) >= {"EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"}

    assert len(sm.list_endpoints(NameContains=tag, StatusEquals="InService")["Endpoints"]) == 3
    assert sm.list_endpoints(NameContains=tag, StatusEquals="Failed")["Endpoints"] == []

    time.sleep(0.01)
    sm.delete_endpoint(EndpointName=names[0])
    deleting = sm.list_endpoints(NameContains=tag, SortBy="Status", SortOrder="Ascending")["Endpoints"]
    statuses = [e["EndpointStatus"] for e in deleting]
    assert statuses in (["Deleting", "InService", "InService"], ["InService", "InService"])
    changed = sm.list_endpoints(NameContains=tag, LastModifiedTimeAfter=listed[-1]["LastModifiedTime"])["Endpoints"]
    assert names[0] in {e["EndpointName"] for e in changed} or len(statuses) == 2
