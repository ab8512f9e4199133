"""Target tracking maths with a fake clock."""

from __future__ import annotations

from serverless_ray.autoscaling.target_tracking import TrackingPolicy, TrackingState, decide


def run(policy, steps, *, capacity, min_capacity=1, max_capacity=20):
    """Feed (time, executions) samples; return capacity after each."""
    state = TrackingState()
    out = []
    for now, executions in steps:
        capacity = decide(policy, state, now=now, capacity=capacity, executions=executions,
                          min_capacity=min_capacity, max_capacity=max_capacity)
        out.append(capacity)
    return out


def test_scales_out_to_keep_utilization_at_target():
    policy = TrackingPolicy(target_value=0.5, scale_out_cooldown_s=60, scale_in_cooldown_s=60)
    assert run(policy, [(0, 3)], capacity=2) == [6]


def test_scale_out_waits_for_its_cooldown():
    policy = TrackingPolicy(target_value=1.0, scale_out_cooldown_s=60, scale_in_cooldown_s=600)
    assert run(policy, [(0, 4), (30, 8), (61, 8)], capacity=2) == [4, 4, 8]


def test_scale_in_uses_the_recent_peak_and_its_cooldown():
    policy = TrackingPolicy(target_value=1.0, scale_out_cooldown_s=0, scale_in_cooldown_s=100)
    caps = run(policy, [(0, 6), (50, 1), (99, 1), (151, 1)], capacity=2)
    # 6 at t=0; the peak of the last 100 s keeps 6 until the t=0 sample ages out.
    assert caps == [6, 6, 6, 1]


def test_disable_scale_in_keeps_capacity():
    policy = TrackingPolicy(target_value=1.0, scale_out_cooldown_s=0, scale_in_cooldown_s=0, disable_scale_in=True)
    assert run(policy, [(0, 5), (1000, 0)], capacity=1) == [5, 5]


def test_stays_within_min_and_max():
    policy = TrackingPolicy(target_value=0.1, scale_out_cooldown_s=0, scale_in_cooldown_s=0)
    assert run(policy, [(0, 10)], capacity=1, max_capacity=7) == [7]
    assert run(policy, [(0, 0), (10, 0)], capacity=5, min_capacity=2) == [2, 2]
