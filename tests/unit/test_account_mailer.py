"""The embedded mailer writes JSON lines (or prints); SMTP settings pick the SMTP mailer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratabase.accounts.mailer import FileMailer, Mail, SmtpMailer, build_mailer
from stratabase.settings import load_settings


async def test_file_mailer_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "mail.jsonl"
    mailer = build_mailer(load_settings(redis_url="", mail_file=str(path)))
    assert isinstance(mailer, FileMailer)
    await mailer.send(Mail("a@example.com", "One", "first"))
    await mailer.send(Mail("b@example.com", "Two", "second"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [m["to"] for m in lines] == ["a@example.com", "b@example.com"]


async def test_console_mailer_prints(capsys: pytest.CaptureFixture[str]) -> None:
    await FileMailer().send(Mail("a@example.com", "Hi", "body"))
    assert '"subject": "Hi"' in capsys.readouterr().out


def test_smtp_settings_pick_the_smtp_mailer() -> None:
    mailer = build_mailer(load_settings(redis_url="", smtp_host="mail.example.com", smtp_port=2525))
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port) == ("mail.example.com", 2525)
