"""The client's HTTP bindings must be the ones in botocore's model, the source of truth."""

from __future__ import annotations

import botocore.session

from botkit.connect.client import OPERATIONS


def test_bindings_match_botocore() -> None:
    model = botocore.session.get_session().get_service_model("connectparticipant")
    assert {op.name for op in OPERATIONS} == set(model.operation_names)
    for op in OPERATIONS:
        http = model.operation_model(op.name).http
        assert (op.method, op.path) == (http["method"], http["requestUri"])


def test_bearer_header_is_the_only_auth_input() -> None:
    model = botocore.session.get_session().get_service_model("connectparticipant")
    for name in model.operation_names:
        headers = {
            member.serialization["name"]
            for member in model.operation_model(name).input_shape.members.values()
            if member.serialization.get("location") == "header"
        }
        assert headers == {"X-Amz-Bearer"}
