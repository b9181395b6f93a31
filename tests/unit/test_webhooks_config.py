"""The endpoints file: validation, secrets from the environment, one-line errors."""

from pathlib import Path

import pytest

from fraudgraph.alerts.webhooks.config import DEFAULT_SCHEDULE_SECONDS, load_config
from fraudgraph.alerts.webhooks.testing import new_secret
from fraudgraph.errors import ConfigError
from tests.repo import PROJECT_ROOT

SECRET = new_secret()
VALID = """
endpoints:
  - name: cases
    url: https://cases.example/hook
    secret_env: CASES_SECRET
  - name: pager
    url: http://127.0.0.1:9000/
    secret_env: PAGER_SECRET
    kinds: [link, cluster]
    min_severity: high
    timeout_seconds: 2.5
"""
ENV = {"CASES_SECRET": SECRET, "PAGER_SECRET": SECRET}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), ENV if env is None else env)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), ENV)
    cases, pager = config.endpoints
    assert (cases.name, cases.kinds, cases.min_severity, cases.timeout_seconds) == (
        "cases",
        None,
        None,
        5.0,
    )
    assert pager.kinds == {"link", "cluster"}
    assert pager.min_severity == "high"
    assert config.retry.schedule_seconds == DEFAULT_SCHEDULE_SECONDS
    assert config.retry.give_up_after_seconds >= 8 * 3600
    assert set(config.signers) == {"cases", "pager"}
    assert config.endpoint("pager") == pager
    assert config.endpoint("nope") is None


def test_the_example_file_is_valid(tmp_path: Path) -> None:
    example = PROJECT_ROOT / "alerts" / "webhooks" / "endpoints.example.yaml"
    env = {"WEBHOOK_SECRET_CASES": SECRET, "WEBHOOK_SECRET_PAGER": SECRET}
    config = load_config(example, env)
    assert [e.name for e in config.endpoints] == ["case-management", "pager"]


def test_a_missing_secret_names_the_variable(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID, {"CASES_SECRET": SECRET})
    assert "endpoint pager" in message
    assert "PAGER_SECRET is not set" in message


def test_a_secret_that_is_not_whsec_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID, {**ENV, "PAGER_SECRET": "hunter2"})
    assert "PAGER_SECRET" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("endpoints: []", "endpoints"),
        ("- just a list", "Input should be a valid dictionary"),
        ("endpoints: [{name: a, url: 'ftp://x', secret_env: CASES_SECRET}]", "url"),
        ("endpoints: [{name: 'a b', url: 'http://x', secret_env: CASES_SECRET}]", "name"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: 'not-a-name'}]", "secret_env"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: S, kinds: [fraud]}]", "kinds"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: S, kinds: []}]", "empty list"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: S, min_severity: huge}]", "min_sev"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: S, timeout_seconds: 0}]", "timeout"),
        ("endpoints: [{name: a, url: 'http://x', secret_env: S, secret: whsec_x}]", "secret"),
        (VALID + "  - {name: cases, url: 'http://y', secret_env: S}\n", "unique: cases"),
        (VALID + "retry: {schedule_seconds: []}\n", "schedule_seconds"),
        (VALID + "retry: {schedule_seconds: [0]}\n", "schedule_seconds"),
        (VALID + "retry: {jitter: 0.9}\n", "jitter"),
        ("endpoints: [unclosed", "not YAML"),
    ],
)
def test_invalid_files_give_one_line(tmp_path: Path, text: str, expected: str) -> None:
    message = error_for(tmp_path, text)
    assert message.startswith("webhooks file ")
    assert expected in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.yaml", ENV)


def test_a_custom_retry_schedule(tmp_path: Path) -> None:
    text = VALID + "retry: {schedule_seconds: [1, 2, 4], give_up_after_seconds: 60, jitter: 0}\n"
    config = load_config(write(tmp_path, text), ENV)
    assert config.retry.schedule_seconds == (1, 2, 4)
    assert config.retry.give_up_after_seconds == 60
