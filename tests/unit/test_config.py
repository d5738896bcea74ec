"""The one configuration model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tipline.config import DEFAULT_URGENT_KEYWORDS, Settings, get_settings

REQUIRED = {
    "TABLE_NAME": "t",
    "REPLIES_QUEUE_URL": "https://sqs/replies.fifo",
    "SPILL_QUEUE_URL": "https://sqs/spill",
    "KMS_KEY_ID": "key",
    "PEPPER_SECRET_ID": "pepper",
    "APP_SECRET_PREFIX": "tipline/dev/apps/",
    "URGENT_TOPIC_ARN": "arn:aws:sns:ap-southeast-1:1:urgent",
}


def test_fields_come_from_upper_case_environment_variables() -> None:
    settings = Settings.from_env({**REQUIRED, "TIP_JOIN_HOURS": "0", "UNRELATED": "x"})
    assert settings.table_name == "t"
    assert settings.tip_join_hours == 0
    assert settings.stage == "local"
    assert settings.urgent_keywords == DEFAULT_URGENT_KEYWORDS
    assert settings.zalo_api_base_url == "https://openapi.zalo.me"


def test_urgent_keywords_may_be_a_json_list() -> None:
    settings = Settings.from_env({**REQUIRED, "URGENT_KEYWORDS": '["cứu", "nổ"]'})
    assert settings.urgent_keywords == ("cứu", "nổ")


@pytest.mark.parametrize(
    ("name", "value"),
    [("TABLE_NAME", None), ("MAX_BODY_BYTES", "0"), ("TIP_JOIN_HOURS", "-1"), ("ACK_QUIET_MINUTES", "soon")],
)
def test_missing_or_invalid_values_are_refused_with_the_field_named(name: str, value: str | None) -> None:
    environ = {**REQUIRED}
    if value is None:
        environ.pop(name)
    else:
        environ[name] = value
    with pytest.raises(ValidationError) as refused:
        Settings.from_env(environ)
    assert name.lower() in str(refused.value)


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(REQUIRED)
    with pytest.raises(ValidationError):
        settings.table_name = "other"  # type: ignore[misc]


def test_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    first = get_settings()
    monkeypatch.setenv("TABLE_NAME", "changed")
    assert get_settings() is first
    assert get_settings().table_name == "t"
    get_settings.cache_clear()
