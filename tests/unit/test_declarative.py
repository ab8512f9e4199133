"""Endpoints files and Serve app args: validation, and what applying them changes."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from serverless_ray.declarative.plan import (
    ExistingEndpoint,
    NotOwnedError,
    action_matches,
    config_name_for,
    model_name_for,
    plan_endpoints,
    plan_scaling,
)
from serverless_ray.declarative.schema import EndpointDeclaration, ProvisionedScalingDeclaration, ServeAppArgs, load

REPO = Path(__file__).parents[2]


def _endpoint(name="ep", **fields) -> EndpointDeclaration:
    return EndpointDeclaration(name=name, model_data="s3://bucket/model.tar.gz", **fields)


def _errors(**args) -> str:
    with pytest.raises(ValidationError) as caught:
        ServeAppArgs.model_validate(args)
    return str(caught.value)


# --- validation ----------------------------------------------------------------------

def test_errors_name_the_field_and_the_allowed_values():
    message = _errors(endpoints=[{"name": "ep", "model_data": "m", "memory_size_mb": 1536}])
    assert "endpoints.0.memory_size_mb" in message and "1024, 2048, 3072, 4096, 5120, 6144" in message
    message = _errors(endpoints=[{"name": "ep", "model_data": "m", "max_concurrency": 201}])
    assert "endpoints.0.max_concurrency" in message and "less than or equal to 200" in message
    assert "endpoints.0.name" in _errors(endpoints=[{"name": "not valid!", "model_data": "m"}])
    assert "platform.prot" in _errors(platform={"prot": 8080})
    assert "endpoints.0.colour" in _errors(endpoints=[{"name": "ep", "model_data": "m", "colour": "red"}])


def test_concurrency_rules_quote_the_values():
    assert "provisioned_concurrency 5 exceeds max_concurrency 4" in _errors(
        endpoints=[{"name": "ep", "model_data": "m", "max_concurrency": 4, "provisioned_concurrency": 5}])
    assert "autoscaling needs provisioned_concurrency" in _errors(
        endpoints=[{"name": "ep", "model_data": "m", "autoscaling": {"min_capacity": 1, "max_capacity": 2}}])
    assert "max_capacity 9 exceeds max_concurrency 4" in _errors(endpoints=[{
        "name": "ep", "model_data": "m", "max_concurrency": 4, "provisioned_concurrency": 1,
        "autoscaling": {"min_capacity": 1, "max_capacity": 2,
                        "scheduled_actions": [{"name": "a", "schedule": "rate(1 hour)", "max_capacity": 9}]}}])


def test_schedules_and_time_zones_are_checked_before_anything_is_applied():
    def scaling(**action):
        return {"min_capacity": 1, "max_capacity": 2, "scheduled_actions": [{"name": "a", **action}]}

    with pytest.raises(ValidationError, match=r"scheduled_actions.0.schedule\n.*'cron\(0 8 \* \*\)' must have 6 cron"):
        ProvisionedScalingDeclaration.model_validate(scaling(schedule="cron(0 8 * *)", min_capacity=1))
    with pytest.raises(ValidationError, match=r"Schedule 'every day' is not valid; expected at\("):
        ProvisionedScalingDeclaration.model_validate(scaling(schedule="every day", min_capacity=1))
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        ProvisionedScalingDeclaration.model_validate(
            scaling(schedule="rate(1 day)", timezone="Mars/Olympus", min_capacity=1))
    with pytest.raises(ValidationError, match="sets neither min_capacity nor max_capacity"):
        ProvisionedScalingDeclaration.model_validate(scaling(schedule="rate(1 day)"))
    with pytest.raises(ValidationError, match="repeated: a"):
        ProvisionedScalingDeclaration.model_validate({"min_capacity": 1, "max_capacity": 2, "scheduled_actions": [
            {"name": "a", "schedule": "rate(1 day)", "min_capacity": 1},
            {"name": "a", "schedule": "rate(2 days)", "min_capacity": 2}]})


def test_endpoint_names_are_unique_regardless_of_case():
    assert "repeated: ep" in _errors(endpoints=[{"name": "ep", "model_data": "m"}, {"name": "EP", "model_data": "m"}])


def test_relative_model_paths_resolve_against_the_file_or_base_dir(tmp_path):
    (tmp_path / "endpoints.yaml").write_text(yaml.safe_dump({"endpoints": [{"name": "ep", "model_data": "models/a"}]}))
    assert load(tmp_path / "endpoints.yaml").endpoints[0].model_data == str(tmp_path / "models" / "a")
    args = ServeAppArgs.model_validate({"base_dir": "/srv", "endpoints": [
        {"name": "a", "model_data": "models/a"}, {"name": "b", "model_data": "s3://bucket/b.tar.gz"}]})
    assert [e.model_data for e in args.resolved_endpoints()] == ["/srv/models/a", "s3://bucket/b.tar.gz"]


def test_a_serve_config_file_loads_as_its_applications_args():
    declared = load(REPO / "deployments" / "serverless.yaml")
    assert [e.name for e in declared.endpoints] == ["example-linear", "example-linear-large"]
    assert Path(declared.endpoints[0].model_data).is_absolute()
    assert declared.endpoints[0].autoscaling.scheduled_actions[0].name == "office-hours"


# --- names -----------------------------------------------------------------------------

def test_a_concurrency_change_keeps_the_model_and_changes_the_config():
    before, after = _endpoint(max_concurrency=4), _endpoint(max_concurrency=6)
    assert model_name_for(before) == model_name_for(after)
    assert config_name_for(before) != config_name_for(after)
    assert model_name_for(before) != model_name_for(_endpoint(environment={"A": "1"}))


def test_scaling_changes_are_not_a_new_config():
    plain = _endpoint(provisioned_concurrency=1)
    scaled = _endpoint(provisioned_concurrency=1, autoscaling={"min_capacity": 1, "max_capacity": 3})
    assert config_name_for(plain) == config_name_for(scaled)


def test_long_names_leave_room_for_the_digest():
    name = "e" * 63
    assert len(model_name_for(_endpoint(name))) == 63 and len(config_name_for(_endpoint(name))) == 63


# --- plans -----------------------------------------------------------------------------

def _existing(name, endpoint=None, *, owner="app", status="InService"):
    config = config_name_for(endpoint) if endpoint else f"{name}-00000000"
    return {name.lower(): ExistingEndpoint(name, status, config, owner)}


def test_plan_creates_updates_and_keeps():
    same, changed, new = _endpoint("same"), _endpoint("changed", max_concurrency=9), _endpoint("new")
    existing = {**_existing("same", same), **_existing("changed")}
    plan = plan_endpoints([same, changed, new], existing, owner="app", prune=True)
    assert [e.name for e in plan.unchanged] == ["same"]
    assert [e.name for e in plan.update] == ["changed"]
    assert [e.name for e in plan.create] == ["new"]
    assert plan.delete == [] and plan.recreate == []


def test_a_failed_endpoint_is_created_again_rather_than_updated():
    plan = plan_endpoints([_endpoint("ep")], _existing("ep", status="Failed"), owner="app", prune=False)
    assert [e.name for e in plan.recreate] == ["ep"]


def test_prune_deletes_only_what_the_owner_made():
    existing = {**_existing("mine"), **_existing("theirs", owner="other-app"), **_existing("boto3-made", owner=None)}
    assert plan_endpoints([], existing, owner="app", prune=True).delete == ["mine"]
    assert plan_endpoints([], existing, owner="app", prune=False).delete == []
    assert plan_endpoints([], existing, owner=None, prune=True).delete == []


def test_an_endpoint_made_by_someone_else_is_not_taken_over():
    with pytest.raises(NotOwnedError, match="no ownership tag"):
        plan_endpoints([_endpoint("ep")], _existing("ep", owner=None), owner="app", prune=True)
    with pytest.raises(NotOwnedError, match="by 'other-app'"):
        plan_endpoints([_endpoint("ep")], _existing("ep", owner="other-app"), owner="app", prune=True)
    # Without an owner (a plain `serverless-ray apply`), endpoints are updated as before.
    assert plan_endpoints([_endpoint("ep")], _existing("ep", owner=None), owner=None, prune=False).update


def _scaling(*actions, low=1, high=4):
    return ProvisionedScalingDeclaration(min_capacity=low, max_capacity=high, scheduled_actions=list(actions))


def test_scaling_plan_registers_puts_and_deletes():
    office = {"name": "office", "schedule": "cron(0 8 ? * MON-FRI *)", "timezone": "Europe/Berlin", "min_capacity": 3}
    declared = _scaling(office)
    plan = plan_scaling(declared, None, {})
    assert plan.register == (1, 4) and [a.name for a in plan.put] == ["office"] and not plan.deregister
    described = {"Schedule": office["schedule"], "Timezone": "Europe/Berlin", "ScalableTargetAction": {"MinCapacity": 3}}
    plan = plan_scaling(declared, {"MinCapacity": 1, "MaxCapacity": 4}, {"office": described, "stale": {}})
    assert plan.register is None and plan.put == [] and plan.delete == ["stale"]
    assert plan_scaling(None, {"MinCapacity": 1, "MaxCapacity": 4}, {}).deregister
    assert not plan_scaling(None, None, {}).deregister


def test_an_unchanged_action_matches_its_description():
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    declared = _scaling({"name": "a", "schedule": "rate(1 day)", "start_time": start, "max_capacity": 2}).scheduled_actions[0]
    described = {"Schedule": "rate(1 day)", "StartTime": start, "ScalableTargetAction": {"MaxCapacity": 2}}
    assert action_matches(declared, described)  # no time zone is UTC
    assert not action_matches(declared, {**described, "ScalableTargetAction": {"MaxCapacity": 3}})
    assert not action_matches(declared, {**described, "Schedule": "rate(2 days)"})
    assert not action_matches(declared, None)
