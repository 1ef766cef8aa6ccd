"""``costmux serve``'s command line: help, and one-line errors with exit code 1 before anything starts (the served
gateway itself is tested as a real process in tests/integration/test_gateway_proxy.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.cli import main


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--proxy-url", "--api-key", "--gateway-key", "--strategy", "--max-cost", "--keys"):
        assert flag in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "no LiteLLM proxy URL"),
        (["serve", "--proxy-url", "ftp://proxy"], "base URL must start with http"),
        (["serve", "--proxy-url", "http://127.0.0.1:9", "--strategy", "fastest"], "unknown strategy 'fastest'"),
        (["serve", "--proxy-url", "http://127.0.0.1:9", "--max-cost", "-1"], "COSTMUX_DEFAULT_MAX_COST"),
        (["serve", "--proxy-url", "http://127.0.0.1:9", "--keys", "missing.yaml"], "cannot read the keys file"),
        (["serve", "--proxy-url", "http://127.0.0.1:9", "--quality-model", "m.json"], "cannot read the quality model"),
        (
            ["serve", "--proxy-url", "http://127.0.0.1:9", "--redis-url", "http://user:s3cret@host"],
            "Redis URL must start with redis://",
        ),
    ],
)
def test_configuration_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object, argv: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("costmux: ") and message in err and err.count("\n") == 1
    assert "s3cret" not in err


def test_a_taken_port_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--proxy-url", "http://127.0.0.1:9", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"costmux: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1


def test_a_bad_keys_file_names_the_entry_not_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keys.yaml").write_text("keys:\n  - {name: alice, key: sk-secret-of-alice, team: nowhere}\n")
    assert main(["serve", "--proxy-url", "http://127.0.0.1:9", "--keys", "keys.yaml"]) == 1
    err = capsys.readouterr().err
    assert "team 'nowhere'" in err and "sk-secret-of-alice" not in err
