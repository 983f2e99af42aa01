"""Account mail through a pluggable :class:`Mailer`.

Embedded (no ``STRATABASE_SMTP_HOST``): :class:`FileMailer` appends each message as one
JSON line to ``STRATABASE_MAIL_FILE``, or prints it to stdout when no file is set (a
developer reads the reset link there). With ``STRATABASE_SMTP_*`` set: :class:`SmtpMailer`
(``smtplib`` in a worker thread, STARTTLS and login when configured). Messages are never
logged: they carry single-use tokens.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import sys
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from stratabase.settings import Settings


@dataclass(frozen=True)
class Mail:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Delivers account mail; implementations raise on a delivery failure."""

    async def send(self, mail: Mail) -> None:
        """Deliver ``mail`` (or raise)."""
        ...


class FileMailer:
    """The embedded mailer: JSON lines appended to ``path``, or printed when there is none."""

    def __init__(self, path: str = "") -> None:
        self.path = path

    async def send(self, mail: Mail) -> None:
        """Append (or print) the message."""
        line = json.dumps(asdict(mail), ensure_ascii=False)
        if not self.path:
            print(f"[mail] {line}", file=sys.stdout, flush=True)
            return
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        with Path(self.path).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class SmtpMailer:
    """Sends through an SMTP server (``STRATABASE_SMTP_*``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    async def send(self, mail: Mail) -> None:
        """Deliver over SMTP, off the event loop."""
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when ``smtp_host`` is set, else the embedded file/console mailer."""
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
        )
    return FileMailer(settings.mail_file)


__all__ = ["FileMailer", "Mail", "Mailer", "SmtpMailer", "build_mailer"]
