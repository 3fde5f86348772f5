"""The ECS task definitions and IAM policies in deploy/ecs/, checked against botocore's own service models.

`RegisterTaskDefinition`'s input shape with botocore's parameter validator (what boto3 would refuse
before sending), then what each launch type must carry; every IAM action must name an operation
of the service whose signing name is the action's prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

ROOT = Path(__file__).resolve().parents[2]
ECS = ROOT / "deploy" / "ecs"
TASK_DEFINITIONS = sorted(ECS.glob("task-definition-*.json"))
POLICIES = sorted(ECS.glob("*-policy.json"))
SESSION = botocore.session.get_session()


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _gateway(task: dict[str, Any]) -> dict[str, Any]:
    (gateway,) = [c for c in task["containerDefinitions"] if c["name"] == "gateway"]
    return gateway


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("environment", [])}


def test_both_launch_types_are_there() -> None:
    assert [path.name for path in TASK_DEFINITIONS] == ["task-definition-ec2.json", "task-definition-fargate.json"]
    assert [path.name for path in POLICIES] == ["execution-role-policy.json", "task-role-policy.json"]


@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda path: path.stem)
def test_task_definition_matches_register_task_definition(path: Path) -> None:
    shape = SESSION.get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(_load(path), shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda path: path.stem)
def test_every_task_has_health_check_logs_and_secrets(path: Path) -> None:
    gateway = _gateway(_load(path))
    assert gateway["command"][:1] == ["serve"] and "http" in gateway["command"]
    assert "/healthz" in " ".join(gateway["healthCheck"]["command"])
    assert gateway["logConfiguration"]["logDriver"] == "awslogs"
    secrets = {item["name"]: item["valueFrom"] for item in gateway["secrets"]}
    assert set(secrets) == {"PTC_AUTH_TOKEN", "PTC_API_KEYS"}
    assert all(arn.startswith("arn:aws:secretsmanager:") for arn in secrets.values())
    assert not {"PTC_AUTH_TOKEN", "PTC_API_KEYS"} & set(_env(gateway)), "tokens only as secrets"


def test_ec2_task_drives_sibling_sandboxes_through_the_socket() -> None:
    task = _load(ECS / "task-definition-ec2.json")
    assert task["requiresCompatibilities"] == ["EC2"]
    volumes = {volume["name"]: volume for volume in task["volumes"]}
    gateway = _gateway(task)
    (mount,) = gateway["mountPoints"]
    assert mount["containerPath"] == "/var/run/docker.sock"
    assert volumes[mount["sourceVolume"]]["host"]["sourcePath"] == "/var/run/docker.sock"
    env = _env(gateway)
    assert env["PTC_SANDBOX__BACKEND"] == "docker"
    # The non-essential container makes the agent pull the sandbox image onto the instance first.
    (puller,) = [c for c in task["containerDefinitions"] if c["name"] != "gateway"]
    assert puller["essential"] is False and puller["image"] == env["PTC_SANDBOX__IMAGE"]
    assert {"containerName": puller["name"], "condition": "SUCCESS"} in gateway["dependsOn"]
    assert gateway["user"].startswith("10001:")  # non-root, in the socket's group


def test_fargate_task_uses_agentcore_and_no_socket() -> None:
    task = _load(ECS / "task-definition-fargate.json")
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert "volumes" not in task
    gateway = _gateway(task)
    assert "mountPoints" not in gateway
    env = _env(gateway)
    assert env["PTC_SANDBOX__BACKEND"] == "agentcore"
    assert env["PTC_SANDBOX__AGENTCORE__CODE_INTERPRETER_ID"] and env["PTC_SANDBOX__AGENTCORE__REGION"]


def _operations_by_prefix(prefix: str) -> set[str]:
    """Operations of every botocore service whose signing name (the IAM prefix) is `prefix`."""
    operations: set[str] = set()
    for name in SESSION.get_available_services():
        if name == prefix or name.startswith(f"{prefix}-"):
            model = SESSION.get_service_model(name)
            if model.signing_name == prefix:
                operations.update(model.operation_names)
    return operations


@pytest.mark.parametrize("path", POLICIES, ids=lambda path: path.stem)
def test_every_policy_action_exists_in_the_service_models(path: Path) -> None:
    policy = _load(path)
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, f"{action}: least privilege names exact actions"
            prefix, _, operation = action.partition(":")
            assert operation in _operations_by_prefix(prefix), f"{action} is not an operation of {prefix}"


def test_task_role_allows_exactly_the_model_and_code_interpreter_calls() -> None:
    actions = {
        action for statement in _load(ECS / "task-role-policy.json")["Statement"] for action in statement["Action"]
    }
    assert actions == {
        "bedrock:InvokeModel",  # Converse needs it too
        "bedrock:InvokeModelWithResponseStream",  # ConverseStream too
        "bedrock-agentcore:StartCodeInterpreterSession",
        "bedrock-agentcore:InvokeCodeInterpreter",
        "bedrock-agentcore:GetCodeInterpreterSession",
        "bedrock-agentcore:StopCodeInterpreterSession",
    }
