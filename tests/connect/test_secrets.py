from __future__ import annotations

import json

import pytest

from botkit.connect import Secret


def test_secret_hides_its_value_everywhere_it_could_print() -> None:
    secret = Secret("s3cr3t-value")
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s" % secret,  # noqa: UP031
        f"{secret:>30}",
    ):
        assert "s3cr3t-value" not in text
    assert repr(secret) == "Secret('****')"
    assert str(secret) == "Secret('****')"


def test_reveal_gives_the_value() -> None:
    assert Secret("abc").reveal() == "abc"


def test_secret_is_not_a_str_so_json_refuses_it() -> None:
    with pytest.raises(TypeError):
        json.dumps({"token": Secret("abc")})


def test_equality_and_hash_follow_the_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1


def test_redact_masks_every_occurrence() -> None:
    assert Secret("tok").redact("a tok and tok") == "a **** and ****"
    assert Secret("").redact("text") == "text"


def test_only_str_is_wrapped() -> None:
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
