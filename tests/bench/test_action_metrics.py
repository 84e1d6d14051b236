"""The Prometheus text parsing behind figure (h) (the dev server's `action` counter)."""

from __future__ import annotations

from bench.metrics import actions, counter_by, delta, parse_prometheus, per

EXPOSITION = """\
# HELP action action counter
# TYPE action counter
action{action_type="command_ScheduleActivityTask",namespace="default"} 14
action{action_type="grpc_StartWorkflowExecution",namespace="default",service_name="frontend"} 2
action{action_type="grpc_StartWorkflowExecution",namespace="temporal_system",service_name="frontend"} 5
action_total{action_type="command_StartTimer",namespace="default"} 3 1700000000000
persistence_latency_bucket{le="0.005",operation="GetWorkflowExecution"} 1.5e+03
odd{detail="a \\"quoted\\" value, with {braces}",namespace="default"} 7
not a sample line
untyped_metric 42

"""


def test_samples_are_parsed_with_their_labels() -> None:
    samples = parse_prometheus(EXPOSITION)
    assert samples[("untyped_metric", ())] == 42
    assert samples[("persistence_latency_bucket", (("le", "0.005"), ("operation", "GetWorkflowExecution")))] == 1500
    assert samples[("odd", (("detail", 'a "quoted" value, with {braces}'), ("namespace", "default")))] == 7
    assert len(samples) == 7  # comments, the blank and the malformed line skipped


def test_actions_by_type_for_one_namespace() -> None:
    assert actions(EXPOSITION) == {
        "command_ScheduleActivityTask": 14,
        "grpc_StartWorkflowExecution": 2,
        "command_StartTimer": 3,  # the `_total` spelling and a timestamp
    }
    assert actions(EXPOSITION, "temporal_system") == {"grpc_StartWorkflowExecution": 5}
    assert counter_by(parse_prometheus(EXPOSITION), "action", "namespace") == {"default": 19, "temporal_system": 5}


def test_delta_and_per_lifecycle() -> None:
    before = {"a": 1.0, "b": 4.0}
    after = {"a": 1.0, "b": 10.0, "c": 2.0}
    assert delta(before, after) == {"b": 6.0, "c": 2.0}
    assert per({"b": 6.0, "c": 2.0}, 4) == {"b": 1.5, "c": 0.5}
    assert list(per({"x": 1.0, "y": 9.0}, 1)) == ["y", "x"]  # largest first
