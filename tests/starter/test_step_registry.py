"""One table of agents' steps (starter.steps) drives the CLI, the API and the updates they run."""

from __future__ import annotations

import inspect

from temporalio import workflow

from starter.api.steps import BODIES
from starter.cli import build_parser
from starter.cli.cases import STEP_ARGUMENTS
from starter.steps import AGENT_STEPS, API_STEPS, BY_COMMAND
from workflows.complaint import ComplaintWorkflow
from workflows.policy import STEP_ORDER, Step, next_step


def test_every_step_is_a_workflow_update_taking_its_input_type() -> None:
    defined = workflow._Definition.must_from_class(ComplaintWorkflow).updates
    for step in AGENT_STEPS:
        assert step.name in defined, step.name
        assert getattr(ComplaintWorkflow, step.name) is step.update
        hints = inspect.get_annotations(step.update, eval_str=True)
        assert hints["inp"] is step.input, step.name


def test_cli_commands_come_from_the_table() -> None:
    assert set(STEP_ARGUMENTS) == set(BY_COMMAND)
    subcommands = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    commands = subcommands.choices
    helps = {action.dest: action.help for action in subcommands._choices_actions}
    for command, step in BY_COMMAND.items():
        assert commands[command].get_default("func").__name__ == "cmd_step"
        assert helps[command] == step.help
    assert "apply_policy" not in commands  # not every step is a command


def test_api_routes_come_from_the_table() -> None:
    from starter.api.steps import router

    routes = {route.path: route.name for route in router.routes}  # type: ignore[attr-defined]
    assert set(BODIES) == {step.name for step in API_STEPS}
    own_routes = {"/v1/complaints/{case_id}/policy": "step_apply_policy"}  # the API's own policy, not the body's
    assert routes == {f"/v1/complaints/{{case_id}}/{step.path}": f"step_{step.name}" for step in API_STEPS} | own_routes
    assert "apply_policy" not in BODIES


def test_step_order_is_one_sequence_ending_closed() -> None:
    assert [next_step(step) for step in STEP_ORDER] == [*STEP_ORDER[1:], Step.CLOSED]
    assert next_step(Step.CLOSED) is Step.CLOSED
    assert set(STEP_ORDER) | {Step.CLOSED} == set(Step)


def test_update_handlers_are_described() -> None:
    # Every handler carries a description= (the house rule), which the Temporal UI shows.
    for name, defn in workflow._Definition.must_from_class(ComplaintWorkflow).updates.items():
        assert defn.description, name
