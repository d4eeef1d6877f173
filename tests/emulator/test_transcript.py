"""GetTranscript through boto3: directions, orders, start positions and NextToken walks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.emulator.helpers import (
    JOINED,
    WIRE_TIME,
    Api,
    Chat,
    assert_request_id,
    expect_error,
)

MESSAGES = 24  # with the customer's participant.joined, 25 items: pages of 7 and 10 end part-full


@pytest.fixture(scope="module")
def long_chat(api: Api) -> Chat:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    for number in range(MESSAGES // 2):
        api.say(chat.customer, f"customer {number}")
        api.say(agent, f"agent {number}")
    return chat


@pytest.fixture(scope="module")
def everything(api: Api, long_chat: Chat) -> list[dict[str, Any]]:
    """The whole transcript, oldest first, in one page."""
    page = api.participant.get_transcript(
        ConnectionToken=long_chat.customer.connection_token, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=100
    )
    assert "NextToken" not in page
    return page["Transcript"]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["Id"] for item in items]


def get(api: Api, chat: Chat, **params: Any) -> dict[str, Any]:
    return api.participant.get_transcript(ConnectionToken=chat.customer.connection_token, **params)


def walk(api: Api, chat: Chat, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page, following NextToken to the end."""
    pages = []
    while True:
        page = get(api, chat, **params)
        pages.append(page["Transcript"])
        if "NextToken" not in page:
            return pages
        params["NextToken"] = page["NextToken"]
        assert len(pages) <= 200, "NextToken never ran out"


def test_the_fixture_transcript_is_in_time_order(everything: list[dict[str, Any]], long_chat: Chat) -> None:
    # 1 joined for the customer, 1 for the agent, then the messages.
    assert len(everything) == MESSAGES + 2
    assert everything[0]["ContentType"] == JOINED
    assert len(set(ids(everything))) == len(everything)
    times = [item["AbsoluteTime"] for item in everything]
    assert all(WIRE_TIME.match(t) for t in times)
    assert times == sorted(times)
    assert {item["ContactId"] for item in everything} == {long_chat.contact_id}


def test_defaults_are_the_latest_ten_newest_first(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    page = get(api, long_chat)

    assert_request_id(page)
    assert page["InitialContactId"] == long_chat.contact_id
    assert ids(page["Transcript"]) == ids(everything[-10:])[::-1]
    assert page["NextToken"]


def test_backward_ascending_is_the_latest_items_oldest_first(
    api: Api, long_chat: Chat, everything: list[dict[str, Any]]
) -> None:
    """What chatjs apps ask for on every (re)connection to fill gaps."""
    page = get(api, long_chat, ScanDirection="BACKWARD", SortOrder="ASCENDING", MaxResults=15)
    assert ids(page["Transcript"]) == ids(everything[-15:])


def test_forward_starts_at_the_oldest(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    ascending = get(api, long_chat, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=5)
    descending = get(api, long_chat, ScanDirection="FORWARD", SortOrder="DESCENDING", MaxResults=5)

    assert ids(ascending["Transcript"]) == ids(everything[:5])
    assert ids(descending["Transcript"]) == ids(everything[:5])[::-1]


@pytest.mark.parametrize("page_size", [1, 7, 10, 25, 26, 100])
@pytest.mark.parametrize("direction", ["FORWARD", "BACKWARD"])
@pytest.mark.parametrize("order", ["ASCENDING", "DESCENDING"])
def test_next_token_walks_everything_once(
    api: Api, long_chat: Chat, everything: list[dict[str, Any]], direction: str, order: str, page_size: int
) -> None:
    pages = walk(api, long_chat, ScanDirection=direction, SortOrder=order, MaxResults=page_size)

    assert all(len(page) == page_size for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= page_size
    # Put every page oldest first, and the pages themselves oldest first.
    oldest_first = [page if order == "ASCENDING" else page[::-1] for page in pages]
    if direction == "BACKWARD":
        oldest_first.reverse()
    walked = [item for page in oldest_first for item in page]
    assert ids(walked) == ids(everything)


def test_next_token_may_change_page_size(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    first = get(api, long_chat, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=4)
    second = get(api, long_chat, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=6, NextToken=first["NextToken"])
    assert ids(first["Transcript"] + second["Transcript"]) == ids(everything[:10])


def test_a_forward_walk_sees_items_added_meanwhile(api: Api) -> None:
    chat = api.start_chat()
    for number in range(5):
        api.say(chat.customer, f"before {number}")
    first = get(api, chat, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=4)
    late = api.say(chat.customer, "late")

    rest = walk(api, chat, ScanDirection="FORWARD", SortOrder="ASCENDING", MaxResults=4, NextToken=first["NextToken"])

    walked = first["Transcript"] + [item for page in rest for item in page]
    assert len(walked) == 7
    assert len(set(ids(walked))) == 7
    assert walked[-1]["Id"] == late["Id"]


def test_a_backward_walk_is_not_disturbed_by_new_items(api: Api) -> None:
    chat = api.start_chat()
    for number in range(5):
        api.say(chat.customer, f"before {number}")
    before = api.transcript(chat.customer)
    first = get(api, chat, ScanDirection="BACKWARD", SortOrder="ASCENDING", MaxResults=4)
    api.say(chat.customer, "late")

    rest = walk(api, chat, ScanDirection="BACKWARD", SortOrder="ASCENDING", MaxResults=4, NextToken=first["NextToken"])

    walked = [item for page in [*rest[::-1], first["Transcript"]] for item in page]
    assert ids(walked) == ids(before)


# StartPosition --------------------------------------------------------------------------------


def test_start_position_id_scans_forward_by_default(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    """AWS: ScanDirection defaults to FORWARD when a StartPosition is given, and the start item is included."""
    page = get(api, long_chat, StartPosition={"Id": everything[8]["Id"]}, SortOrder="ASCENDING", MaxResults=5)
    assert ids(page["Transcript"]) == ids(everything[8:13])


def test_start_position_id_backward(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    page = get(
        api, long_chat, StartPosition={"Id": everything[8]["Id"]}, ScanDirection="BACKWARD", SortOrder="DESCENDING", MaxResults=5
    )
    assert ids(page["Transcript"]) == ids(everything[4:9])[::-1]
    rest = walk(
        api,
        long_chat,
        StartPosition={"Id": everything[8]["Id"]},
        ScanDirection="BACKWARD",
        SortOrder="ASCENDING",
        MaxResults=5,
        NextToken=page["NextToken"],
    )
    assert ids([item for page in rest[::-1] for item in page]) == ids(everything[:4])


def test_an_unknown_start_id_is_a_validation_exception(api: Api, long_chat: Chat) -> None:
    expect_error(
        api.participant.exceptions.ValidationException,
        get,
        api=api,
        chat=long_chat,
        StartPosition={"Id": "00000000-0000-0000-0000-000000000000"},
    )


def test_start_position_absolute_time(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    moment = everything[12]["AbsoluteTime"]
    first_at_or_after = next(n for n, item in enumerate(everything) if item["AbsoluteTime"] >= moment)
    last_at_or_before = max(n for n, item in enumerate(everything) if item["AbsoluteTime"] <= moment)

    forward = get(api, long_chat, StartPosition={"AbsoluteTime": moment}, SortOrder="ASCENDING", MaxResults=4)
    backward = get(
        api, long_chat, StartPosition={"AbsoluteTime": moment}, ScanDirection="BACKWARD", SortOrder="ASCENDING", MaxResults=4
    )

    assert ids(forward["Transcript"]) == ids(everything[first_at_or_after : first_at_or_after + 4])
    assert ids(backward["Transcript"]) == ids(everything[last_at_or_before - 3 : last_at_or_before + 1])
    offset_form = moment.replace("Z", "+00:00")
    assert get(api, long_chat, StartPosition={"AbsoluteTime": offset_form}, SortOrder="ASCENDING", MaxResults=4)[
        "Transcript"
    ] == forward["Transcript"]


def test_start_position_absolute_time_outside_the_chat(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    long_ago, far_ahead = "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z"

    def page(moment: str, direction: str) -> list[str]:
        return ids(
            get(
                api, long_chat, StartPosition={"AbsoluteTime": moment}, ScanDirection=direction, SortOrder="ASCENDING", MaxResults=3
            )["Transcript"]
        )

    assert page(long_ago, "FORWARD") == ids(everything[:3])
    assert page(far_ahead, "BACKWARD") == ids(everything[-3:])
    assert page(far_ahead, "FORWARD") == []
    assert page(long_ago, "BACKWARD") == []


@pytest.mark.parametrize("moment", ["yesterday", "2026-13-45T99:00:00.000Z", "12:00"])
def test_a_malformed_start_time_is_a_validation_exception(api: Api, long_chat: Chat, moment: str) -> None:
    expect_error(
        api.participant.exceptions.ValidationException,
        get,
        api=api,
        chat=long_chat,
        StartPosition={"AbsoluteTime": moment},
    )


def test_start_position_most_recent(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    """MostRecent counts back from the newest item, which is MostRecent 0."""

    def page(**params: Any) -> list[str]:
        return ids(get(api, long_chat, SortOrder="ASCENDING", **params)["Transcript"])

    assert page(StartPosition={"MostRecent": 0}) == ids(everything[-1:])
    assert page(StartPosition={"MostRecent": 2}, MaxResults=10) == ids(everything[-3:])
    assert page(StartPosition={"MostRecent": 2}, ScanDirection="BACKWARD", MaxResults=5) == ids(everything[-7:-2])
    assert page(StartPosition={"MostRecent": 100}, MaxResults=2) == ids(everything[:2])


def test_an_empty_start_position_is_no_start_position(api: Api, long_chat: Chat) -> None:
    """chatjs sends `StartPosition: {}`; it must not flip the default scan to FORWARD."""
    for params in (
        {},
        {"ScanDirection": "BACKWARD", "SortOrder": "ASCENDING", "MaxResults": 15},
        {"SortOrder": "ASCENDING", "MaxResults": 3},
    ):
        without = get(api, long_chat, **params)
        empty = get(api, long_chat, StartPosition={}, **params)
        assert ids(empty["Transcript"]) == ids(without["Transcript"])
        assert ("NextToken" in empty) == ("NextToken" in without)


# MaxResults and NextToken ------------------------------------------------------------------------


def test_max_results_bounds(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    assert ids(get(api, long_chat, MaxResults=100, SortOrder="ASCENDING")["Transcript"]) == ids(everything)
    assert len(get(api, long_chat, MaxResults=1)["Transcript"]) == 1
    assert len(get(api, long_chat, MaxResults=0)["Transcript"]) <= 10
    response = expect_error(api.participant.exceptions.ValidationException, get, api=api, chat=long_chat, MaxResults=101)
    assert "maxResults" in response["Error"]["Message"]


def test_a_short_transcript_has_no_next_token(api: Api) -> None:
    chat = api.start_chat()
    page = get(api, chat)
    assert [item["ContentType"] for item in page["Transcript"]] == [JOINED]
    assert "NextToken" not in page


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    ["garbage", "!!!!", _token("not a list"), _token([-1, True]), _token(["0", True]), _token([1, "yes"]), _token({"a": 1})],
)
def test_a_bad_next_token_is_a_validation_exception(api: Api, long_chat: Chat, token: str) -> None:
    response = expect_error(api.participant.exceptions.ValidationException, get, api=api, chat=long_chat, NextToken=token)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


# ContactId ---------------------------------------------------------------------------------------


def test_contact_id_of_the_own_contact_is_fine(api: Api, long_chat: Chat, everything: list[dict[str, Any]]) -> None:
    page = get(api, long_chat, ContactId=long_chat.contact_id, SortOrder="ASCENDING", MaxResults=100)
    assert ids(page["Transcript"]) == ids(everything)


def test_contact_id_of_another_contact_is_access_denied(api: Api, long_chat: Chat) -> None:
    other = api.start_chat()
    response = expect_error(
        api.participant.exceptions.AccessDeniedException, get, api=api, chat=long_chat, ContactId=other.contact_id
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == "Access denied"


def test_each_contact_sees_only_its_own_items(api: Api, long_chat: Chat) -> None:
    other = api.start_chat()
    api.say(other.customer, "elsewhere")
    items = api.transcript(other.customer)
    assert [item["ContentType"] for item in items] == [JOINED, "text/plain"]
    assert {item["ContactId"] for item in items} == {other.contact_id}
