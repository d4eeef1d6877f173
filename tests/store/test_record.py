"""The contact record: its stored form, its hidden token, its bounded ids, and state that must stay JSON."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

import pytest

from botkit.connect.secrets import Secret
from botkit.store import RECENT_IDS_KEPT, ContactRecord, RecordError, UnsavableState, encode_state


def test_a_record_round_trips_through_its_stored_form() -> None:
    record = ContactRecord(
        "contact-1", Secret("token-value"), "participant-1", "initial-1", "instance-1", "streaming-1"
    ).dispatched("item-1", "2026-11-23T20:00:00.000Z", {"counter": 1, "names": ["a", "b"], "ok": True, "x": 0.5})

    loaded = ContactRecord.from_json(record.to_json(), owner="worker-a", fence=7)

    assert loaded.participant_token == Secret("token-value")
    assert (loaded.owner, loaded.fence) == ("worker-a", 7)
    assert loaded.to_json() == record.to_json()
    assert json.loads(record.to_json())["participant_token"] == "token-value"  # the store keeps it


def test_the_token_never_shows_in_the_records_repr_or_str() -> None:
    record = ContactRecord("contact-1", Secret("token-value"))

    assert "token-value" not in repr(record) and "token-value" not in str(record)
    assert "Secret('****')" in repr(record)


def test_a_stored_form_that_is_no_record_is_refused_without_echoing_it() -> None:
    with pytest.raises(RecordError) as refused:
        ContactRecord.from_json('{"format": 1, "participant_token": "token-value"}')
    assert "token-value" not in str(refused.value)
    with pytest.raises(RecordError, match="format 99"):
        ContactRecord.from_json('{"format": 99}')
    with pytest.raises(RecordError):
        ContactRecord.from_json("not json")


def test_dispatched_keeps_the_newest_ids_bounded_and_moves_a_repeat_last() -> None:
    record = ContactRecord("contact-1", Secret("t"))
    for n in range(RECENT_IDS_KEPT + 10):
        record = record.dispatched(f"item-{n}", None)
    record = record.dispatched("item-20", "2026-11-23T20:00:00.000Z")

    assert len(record.recent_ids) == RECENT_IDS_KEPT
    assert record.recent_ids[0] == "item-10" and record.recent_ids[-1] == "item-20"
    assert record.recent_ids.count("item-20") == 1
    assert (record.last_item_id, record.last_item_time) == ("item-20", "2026-11-23T20:00:00.000Z")


def test_dispatched_keeps_the_state_unless_given_a_new_one() -> None:
    record = ContactRecord("contact-1", Secret("t")).dispatched("item-1", None, {"counter": 1})

    assert dict(record.dispatched("item-2", None).state) == {"counter": 1}
    assert dict(record.dispatched("item-3", None, {"counter": 3}).state) == {"counter": 3}


@pytest.mark.parametrize(
    ("state", "where", "why"),
    [
        ({"when": datetime.date(2026, 1, 1)}, "session.state['when']", "a date is not JSON"),
        ({"cart": {"items": [1, {2, 3}]}}, "session.state['cart']['items'][1]", "a set is not JSON"),
        ({"ratio": math.nan}, "session.state['ratio']", "nan is not a JSON number"),
        ({"by_id": {1: "one"}}, "session.state['by_id'][1]", "its key is int"),
        ({"raw": b"bytes"}, "session.state['raw']", "a bytes is not JSON"),
    ],
)
def test_unsavable_state_names_the_key_and_the_reason(state: dict[str, object], where: str, why: str) -> None:
    with pytest.raises(UnsavableState) as refused:
        encode_state(state)

    assert str(refused.value).startswith(f"{where} cannot be saved: {why}")


def test_unsavable_state_names_the_plugin_that_set_the_key() -> None:
    owners = {"cart": "shop_plugin"}

    with pytest.raises(UnsavableState) as refused:
        encode_state({"greeted": True, "cart": object()}, plugin_of_key=owners.get)

    assert refused.value.key == "cart" and refused.value.plugin == "shop_plugin"
    assert "session.state['cart'] (set by plugin 'shop_plugin') cannot be saved" in str(refused.value)


def test_a_deeply_nested_state_is_refused_rather_than_overflowing() -> None:
    deep: list[object] = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(UnsavableState, match="nests more than 100 levels"):
        encode_state({"deep": deep})


def test_saveable_state_encodes_to_json_that_reads_back_the_same() -> None:
    state = {"counter": 3, "name": "Zoë", "items": [1, 2.5, None, True, {"a": []}]}

    assert json.loads(encode_state(state)) == state


def test_a_record_with_unsavable_state_cannot_be_turned_into_its_stored_form() -> None:
    record = ContactRecord("contact-1", Secret("t")).dispatched("item-1", None, {"when": datetime.time(12)})

    with pytest.raises(UnsavableState, match=r"session.state\['when'\]"):
        record.to_json()


def test_the_stored_form_follows_every_change_though_parts_of_it_are_encoded_once() -> None:
    record = ContactRecord("contact-1", Secret("token-ü"), "bot-1", instance_id="instance")
    for n in range(RECENT_IDS_KEPT + 3):
        record = record.dispatched(f"item-{n}", "2026-11-23T20:00:00.000Z", {"count": n})
    record.to_json()  # fills the caches
    changed = dataclasses.replace(record, started=True, participant_id="bot-2", recent_ids=("a,\"b", "é"))
    changed = changed.dispatched('item-"last"', None)

    assert json.loads(changed.to_json()) == {
        "format": 1, "contact_id": "contact-1", "participant_token": "token-ü", "participant_id": "bot-2",
        "initial_contact_id": None, "instance_id": "instance", "streaming_id": None,
        "last_item_id": 'item-"last"', "last_item_time": None, "recent_ids": ["a,\"b", "é", 'item-"last"'],
        "started": True, "state": {"count": RECENT_IDS_KEPT + 2},
    }
    assert ContactRecord.from_json(record.to_json()).recent_ids == record.recent_ids
