"""Where a bot's AWS credentials come from (botocore's chain, `connect.profile`), and that refreshable ones stay fresh.

The `connect` calls go to an in-process emulator that checks SigV4 against one key, so only a request signed
with that key's current secret gets an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from botkit.bot import StartupError, _aws_credentials, _check_ca_bundle
from botkit.config import ConnectConfig
from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantServiceError
from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.sigv4 import SigV4Key

KEY = SigV4Key.parse("AKIDPROFILE:profile-secret")
AWS_MODE = ConnectConfig(endpoint="http://127.0.0.1:9", credentials="aws", region="us-east-1", instance_id="i-1")


@pytest.fixture(autouse=True)
def only_these_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Shared config files of the test's own, no environment keys, no metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[contact-centre]\naws_access_key_id = {KEY.access_key_id}\naws_secret_access_key = {KEY.secret.reveal()}\n",
        encoding="utf-8",
    )
    config = tmp_path / "config"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield tmp_path


async def join(credentials: object) -> str:
    """CreateParticipant on a SigV4-checking emulator, signed with `credentials`: the new participant's id."""
    async with Emulator(EmulatorConfig(port=0, sigv4=KEY)) as emulator:
        control = ControlPlaneClient(emulator.base_url, emulator.config.region, credentials)  # type: ignore[arg-type]
        try:
            chat = await control.start_chat_contact(emulator.config.instance_id, emulator.config.contact_flow_id, "Ada")
            joined = await control.create_participant(emulator.config.instance_id, chat.contact_id, "Bot")
        finally:
            await control.close()
    return joined.participant_id


async def test_connect_profile_picks_the_shared_credentials_profile() -> None:
    credentials = await _aws_credentials(AWS_MODE.model_copy(update={"profile": "contact-centre"}))

    assert credentials.access_key == KEY.access_key_id
    assert await join(credentials)


async def test_without_a_profile_the_chain_finds_nothing_here() -> None:
    with pytest.raises(StartupError, match="no AWS credentials found for Amazon Connect"):
        await _aws_credentials(AWS_MODE)


async def test_an_unknown_profile_is_a_startup_error_naming_it() -> None:
    with pytest.raises(StartupError, match=r"could not load AWS credentials .*\(no-such-profile\)"):
        await _aws_credentials(AWS_MODE.model_copy(update={"profile": "no-such-profile"}))


async def test_refreshable_credentials_are_refreshed_between_calls_not_frozen_once() -> None:
    """A role's credentials expire: the first ones here are already stale, and only the refreshed key is accepted."""
    refreshes = 0

    def refresh() -> dict[str, str]:
        nonlocal refreshes
        refreshes += 1
        return {
            "access_key": KEY.access_key_id,
            "secret_key": KEY.secret.reveal(),
            "token": f"session-{refreshes}",
            "expiry_time": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        }

    stale = {
        "access_key": "AKIDEXPIRED",
        "secret_key": "expired-secret",
        "token": "session-0",
        "expiry_time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    credentials = RefreshableCredentials.create_from_metadata(stale, refresh, "assume-role")

    assert await join(credentials)
    assert refreshes >= 2, "credentials this close to expiry are refreshed before each call"


async def test_stale_credentials_frozen_at_start_would_be_refused() -> None:
    """The check above can fail: the same stale key, never refreshed, is refused by the emulator."""
    with pytest.raises(ParticipantServiceError) as refused:
        await join(Credentials("AKIDEXPIRED", "expired-secret", "session-0"))

    assert refused.value.status == 403 and refused.value.credentials_refused


def test_an_unreadable_aws_ca_bundle_stops_the_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "absent.pem"))

    with pytest.raises(StartupError, match="AWS_CA_BUNDLE cannot be loaded"):
        _check_ca_bundle()

