"""A node's standby pools follow the routes: one per framework environment that an
endpoint runs in, started with the first such endpoint and stopped with the last."""

from __future__ import annotations

from serverless_ray.gateway.standby_pools import StandbyPools
from serverless_ray.messages import ReplicaSpec, Route

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
XGBOOST_EU = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
# An image no stack serves: its model runs the inference script in the platform's environment.
UNSERVED = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1-tgi1.4-gpu-py310-cu121-ubuntu22.04"


class FakePool:
    def __init__(self, environment=(), preload=()) -> None:
        self.environment, self.preload = environment, preload
        self.started = self.stopped = False
        self.idle, self.in_use = 1, 0

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def idle_standbys(self) -> list:
        return ["standby"]


def _routes(*images: str | None) -> dict[str, Route]:
    return {f"ep{i}": Route(f"ep{i}", "AllTraffic", f"app{i}", 2,
                            replica=ReplicaSpec(f"ep{i}", "AllTraffic", "s3://b/m.tar.gz", "/cache", image=image))
            for i, image in enumerate(images)}


def _pools():
    made: list[FakePool] = []

    def make(environment, preload):
        made.append(FakePool(environment, preload))
        return made[-1]

    base = FakePool()
    return StandbyPools(base, make), base, made  # type: ignore[arg-type]


def test_a_pool_starts_with_the_first_endpoint_of_an_environment_and_stops_with_the_last():
    pools, base, made = _pools()
    pools.start()
    pools.follow(_routes(None, XGBOOST, XGBOOST_EU, UNSERVED))
    # the two regions' images are one environment; TensorFlow has no stack of its own yet
    assert [(p.environment, p.preload, p.started) for p in made] == [
        (("xgboost==1.7.4", "numpy<2"), ("xgboost",), True)]
    pools.follow(_routes(XGBOOST, SKLEARN))
    assert [p.environment for p in made] == [("xgboost==1.7.4", "numpy<2"), ("scikit-learn==1.4.2",)]
    assert made[1].preload == ("sklearn",)
    pools.follow(_routes(SKLEARN))
    assert made[0].stopped and not made[1].stopped and not base.stopped
    assert pools.environments() == {("scikit-learn==1.4.2",): 1}
    assert (pools.idle, pools.in_use) == (2, 0)
    pools.stop()
    assert made[1].stopped and base.stopped


def test_a_model_goes_to_the_pool_of_its_environment():
    pools, base, made = _pools()
    pools.follow(_routes(XGBOOST))
    spec = _routes(XGBOOST)["ep0"].replica
    assert pools.pool_for(spec) is made[0] and not made[0].started  # started with the others
    assert pools.pool_for(_routes(None)["ep0"].replica) is base
    assert pools.pool_for(_routes(UNSERVED)["ep0"].replica) is base  # its script, in the platform's environment
    assert pools.pool_for(_routes(SKLEARN)["ep0"].replica) is None  # no endpoint made its pool
    pools.start()
    assert made[0].started


def test_without_environment_standbys_framework_models_have_no_pool():
    base = FakePool()
    pools = StandbyPools(base, None)  # type: ignore[arg-type]
    pools.follow(_routes(XGBOOST))
    assert pools.pool_for(_routes(XGBOOST)["ep0"].replica) is None
    assert pools.environments() == {}
