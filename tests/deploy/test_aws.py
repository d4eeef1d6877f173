"""The AWS side: the CloudFormation template passes cfn-lint and grants only what the bot needs; the contact flow
is a well-formed, fully connected flow that hands the chat to the forwarder and routes when the bot leaves."""

from __future__ import annotations

import json
import subprocess
from collections import deque
from typing import Any

from cfnlint.decode import decode

from tests.deploy.processes import ROOT, VENV_BIN

AWS = ROOT / "deploy" / "aws"
TEMPLATE = AWS / "template.yaml"
FLOW = AWS / "contact-flow.json"
CONNECT_REGIONS = ("us-east-1", "us-west-2", "eu-west-2", "eu-central-1", "ap-southeast-2", "ap-northeast-1")


def test_the_template_passes_cfn_lint_at_every_level_in_connect_regions() -> None:
    """Errors, warnings and informational findings: none, in regions where Amazon Connect runs."""
    done = subprocess.run(
        [str(VENV_BIN / "cfn-lint"), "--include-checks", "I", "--regions", *CONNECT_REGIONS, "--", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def template() -> dict[str, Any]:
    parsed, problems = decode(str(TEMPLATE))
    assert not problems and parsed is not None, problems
    return parsed


def test_the_bot_policy_allows_exactly_the_bots_connect_calls_on_the_instances_contacts() -> None:
    resources = template()["Resources"]
    statements = resources["BotPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [statement["Effect"] for statement in statements] == ["Allow"]
    assert sorted(statements[0]["Action"]) == [
        "connect:CreateParticipant",
        "connect:StartContactStreaming",
        "connect:StopContactStreaming",
        "connect:UpdateContactAttributes",
    ]
    assert statements[0]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:connect:${AWS::Region}:${AWS::AccountId}:instance/${ConnectInstanceId}/contact/*"}
    ]


def test_the_forwarder_is_the_stdlib_module_configured_as_it_reads_its_settings() -> None:
    resources = template()["Resources"]
    function = resources["Forwarder"]["Properties"]
    assert function["Handler"] == "forwarder.handler" and (AWS / "forwarder.py").is_file()
    assert function["Runtime"] == "python3.12" and function["Timeout"] == 8
    variables = function["Environment"]["Variables"]
    assert set(variables) == {"BOTKIT_INTAKE_URL", "BOTKIT_INTAKE_SECRET"}
    assert variables["BOTKIT_INTAKE_SECRET"] == {"Fn::Sub": "{{resolve:secretsmanager:${IntakeSecret}:SecretString}}"}
    assert resources["ForwarderIntegration"]["Properties"]["IntegrationType"] == "LAMBDA_FUNCTION"
    permission = resources["ForwarderInvokedByConnect"]["Properties"]
    assert permission["Principal"] == "connect.amazonaws.com" and "SourceArn" in permission


def test_only_connect_on_this_instance_may_publish_to_the_streaming_topic() -> None:
    resources = template()["Resources"]
    [statement] = resources["StreamingTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "connect.amazonaws.com"} and statement["Action"] == "sns:Publish"
    assert set(statement["Condition"]) == {"StringEquals", "ArnEquals"}
    subscription = resources["StreamingToBot"]["Properties"]
    assert subscription["Protocol"] == "https" and subscription["Endpoint"] == {"Ref": "BotSnsUrl"}


def test_the_outputs_cover_what_bot_yaml_and_the_flow_need() -> None:
    assert set(template()["Outputs"]) >= {
        "ConnectInstanceId",
        "Region",
        "IntakeSecretArn",
        "BotPolicyArn",
        "ForwarderArn",
        "StreamingTopicArn",
    }


# the contact flow ---------------------------------------------------------------------------------------


def flow() -> dict[str, Any]:
    return json.loads(FLOW.read_text(encoding="utf-8"))


def targets(action: dict[str, Any]) -> list[str]:
    transitions = action["Transitions"]
    found = [transitions["NextAction"]] if "NextAction" in transitions else []
    found += [branch["NextAction"] for branch in transitions.get("Conditions", [])]
    found += [branch["NextAction"] for branch in transitions.get("Errors", [])]
    return found


def test_the_flow_is_connected_every_target_exists_and_every_action_is_reachable() -> None:
    exported = flow()
    assert exported["Version"] == "2019-10-30"
    actions = {action["Identifier"]: action for action in exported["Actions"]}
    assert len(actions) == len(exported["Actions"]), "an Identifier is used twice"
    for identifier, action in actions.items():
        assert set(action) == {"Identifier", "Type", "Parameters", "Transitions"}, identifier
        assert 1 <= len(identifier) <= 50
        for target in targets(action):
            assert target in actions, f"{identifier} goes to {target!r}, which is not an action"
    reached = {exported["StartAction"]}
    queue = deque(reached)
    while queue:
        for target in targets(actions[queue.popleft()]):
            if target not in reached:
                reached.add(target)
                queue.append(target)
    assert reached == set(actions), f"unreachable: {sorted(set(actions) - reached)}"
    assert set(exported["Metadata"]["ActionMetadata"]) == set(actions)


def test_the_flow_greets_invokes_the_forwarder_branches_on_joined_then_waits_for_the_bot() -> None:
    exported = flow()
    actions = {action["Identifier"]: action for action in exported["Actions"]}
    start = actions[exported["StartAction"]]
    assert start["Type"] == "MessageParticipant" and start["Parameters"]["Text"]  # AWS wants a prompt first

    invoke = actions[start["Transitions"]["NextAction"]]
    assert invoke["Type"] == "InvokeLambdaFunction"
    assert int(invoke["Parameters"]["InvocationTimeLimitSeconds"]) == 8
    assert invoke["Parameters"]["ResponseValidation"] == {"ResponseType": "STRING_MAP"}
    assert invoke["Parameters"]["LambdaFunctionARN"].endswith(":function:botkit-forwarder")

    compare = actions[invoke["Transitions"]["NextAction"]]
    assert compare["Type"] == "Compare" and compare["Parameters"] == {"ComparisonValue": "$.External.botkit"}
    [joined] = compare["Transitions"]["Conditions"]
    assert joined["Condition"] == {"Operator": "Equals", "Operands": ["joined"]}

    wait = actions[joined["NextAction"]]
    assert wait["Type"] == "Wait" and wait["Parameters"]["Events"] == ["BotParticipantDisconnected"]
    assert 0 < int(wait["Parameters"]["TimeoutSeconds"]) <= 604800
    by_result = {branch["Condition"]["Operands"][0]: branch["NextAction"] for branch in wait["Transitions"]["Conditions"]}
    assert set(by_result) == {"BotParticipantDisconnected", "WaitCompleted"}  # Connect requires both operands

    from_bot = actions[by_result["BotParticipantDisconnected"]]
    assert from_bot["Type"] == "UpdateContactTargetQueue"
    assert from_bot["Parameters"] == {"QueueId": "$.Attributes.queue"}
    assert actions[from_bot["Transitions"]["NextAction"]]["Type"] == "TransferContactToQueue"
    [fallback] = [actions[branch["NextAction"]] for branch in from_bot["Transitions"]["Errors"]]
    assert fallback["Type"] == "UpdateContactTargetQueue" and "/queue/" in fallback["Parameters"]["QueueId"]


def test_the_failure_branches_say_so_and_reach_the_default_queue() -> None:
    exported = flow()
    actions = {action["Identifier"]: action for action in exported["Actions"]}
    invoke = next(action for action in actions.values() if action["Type"] == "InvokeLambdaFunction")
    compare = actions[invoke["Transitions"]["NextAction"]]
    failures = {branch["NextAction"] for branch in invoke["Transitions"]["Errors"] + compare["Transitions"]["Errors"]}
    failures.add(compare["Transitions"]["NextAction"])
    for identifier in failures:
        message = actions[identifier]
        assert message["Type"] == "MessageParticipant"
        queue = actions[message["Transitions"]["NextAction"]]
        assert queue["Type"] == "UpdateContactTargetQueue" and "/queue/" in queue["Parameters"]["QueueId"]


def test_the_readmes_substitutions_replace_the_flows_placeholders() -> None:
    """deploy/README.md step 8 rewrites the flow's placeholder ARNs; they must be the ones the flow has."""
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    actions = flow()["Actions"]
    lambda_arns = {a["Parameters"]["LambdaFunctionARN"] for a in actions if a["Type"] == "InvokeLambdaFunction"}
    queue_arns = {
        a["Parameters"]["QueueId"]
        for a in actions
        if a["Type"] == "UpdateContactTargetQueue" and not a["Parameters"]["QueueId"].startswith("$.")
    }
    assert len(lambda_arns) == len(queue_arns) == 1
    for placeholder, variable in ((*lambda_arns, "FORWARDER_ARN"), (*queue_arns, "QUEUE_ARN")):
        assert f'"s|{placeholder}|${variable}|"' in readme
    assert "zip -j forwarder.zip deploy/aws/forwarder.py" in readme and "--template-file deploy/aws/template.yaml" in readme
