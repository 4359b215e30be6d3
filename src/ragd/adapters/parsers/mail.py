"""E-mail: ``.eml`` (MIME, the stdlib ``email`` package) and Outlook ``.msg`` (extract-msg).

A message becomes its header lines (From, To, Cc, Date, Subject: what a question about
the mail names) and its body, the plain-text part when there is one, else the HTML part
as text. The subject is the title; From, To, Cc, Date and Message-ID are metadata
(``author``, ``to``, ``cc``, ``created``, ``message_id``).

Attachments are not read here: each is handed back as an ``Attachment`` and the indexing
service queues it as a document of its own, linked to the message
(``attachment_of``), through the same submission path as an upload, so it is parsed,
bounded and sandboxed like any file. At most ``MAX_ATTACHMENTS`` are taken from one
message; the number left out is recorded (``attachments_omitted``).
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterable
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from ragd.adapters.parsers.content_metadata import clean, iso_date, text_value
from ragd.adapters.parsers.decoding import decode_text
from ragd.adapters.parsers.failures import phrase
from ragd.domain.models import Attachment, ParsedDocument, Section
from ragd.errors import DocumentRejected

EML = "message/rfc822"
MSG = "application/vnd.ms-outlook"
MAX_ATTACHMENTS = 100
MAX_HEADER_CHARS = 2_000
_HEADER_ORDER = ("from", "to", "cc", "date", "subject")

log = logging.getLogger(__name__)


class EmlParser:
    media_types: frozenset[str] = frozenset({EML})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        try:
            message = email.message_from_bytes(data, policy=email.policy.default)
            if not isinstance(message, EmailMessage):  # the default policy's class
                raise DocumentRejected("the e-mail cannot be read")
            headers = {
                "from": _addresses(message.get_all("from", [])),
                "to": _addresses(message.get_all("to", [])),
                "cc": _addresses(message.get_all("cc", [])),
                "date": _header(message.get("date")),
                "subject": _header(message.get("subject")),
            }
            body = _body(message)
            attachments = list(_attachments(message.iter_attachments()))
            message_id = _header(message.get("message-id"))
        except DocumentRejected:
            raise
        except Exception as exc:  # the email package raises many types on broken input
            log.info("EML %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the e-mail cannot be read: {phrase(exc)}") from exc
        if not any(headers.values()) and not body:
            raise DocumentRejected("the file is not an e-mail: it has no headers and no body")
        return _document(headers, _date(headers["date"]), body, attachments, message_id)


class MsgParser:
    media_types: frozenset[str] = frozenset({MSG})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        import extract_msg

        logging.getLogger("extract_msg").setLevel(logging.ERROR)
        try:
            message = extract_msg.openMsg(data, strict=False, delayAttachments=False)
        except Exception as exc:  # olefile and extract-msg raise many types
            log.info("MSG %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(
                "the file is not a readable Outlook message (.msg): "
                f"{phrase(exc) if not isinstance(exc, OSError) else 'its structure is damaged'}"
            ) from exc
        try:
            sent = getattr(message, "date", None)
            headers = {
                "from": _header(getattr(message, "sender", None)),
                "to": _header(getattr(message, "to", None)),
                "cc": _header(getattr(message, "cc", None)),
                "date": _header(sent.isoformat() if sent is not None else None),
                "subject": _header(getattr(message, "subject", None)),
            }
            body = _msg_body(message)
            attachments = list(_msg_attachments(getattr(message, "attachments", [])))
            message_id = _header(getattr(message, "messageId", None))
        except Exception as exc:
            log.info("MSG %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the Outlook message cannot be read: {phrase(exc)}") from exc
        finally:
            message.close()
        return _document(headers, iso_date(sent), body, attachments, message_id)


def _document(
    headers: dict[str, str | None],
    created: str | None,
    body: str,
    attachments: list[Attachment],
    message_id: str | None,
) -> ParsedDocument:
    lines = [f"{name.capitalize()}: {headers[name]}" for name in _HEADER_ORDER if headers[name]]
    if attachments:
        lines.append("Attachments: " + ", ".join(a.name for a in attachments[:20]))
    sections = [Section(text="\n".join(lines))] if lines else []
    if body.strip():
        sections.append(Section(text=body.strip()))
    if not sections:
        raise DocumentRejected("the e-mail has no headers and no body")
    omitted = max(0, len(attachments) - MAX_ATTACHMENTS)
    metadata = clean(
        {
            "author": headers["from"],
            "to": headers["to"],
            "cc": headers["cc"],
            "created": created,
            "message_id": message_id,
            "attachments_omitted": omitted or None,
        }
    )
    return ParsedDocument(
        sections=sections,
        title=headers["subject"],
        metadata=metadata,
        attachments=attachments[:MAX_ATTACHMENTS],
    )


def _header(value: Any) -> str | None:
    text = text_value(value)
    return text[:MAX_HEADER_CHARS] if text else None


def _addresses(values: list[Any]) -> str | None:
    pairs = getaddresses([str(v) for v in values])
    shown = [
        f"{name} <{address}>" if name else address for name, address in pairs if address or name
    ]
    return _header(", ".join(shown))


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    return html_text(content) if part.get_content_subtype() == "html" else content


def _attachments(parts: Iterable[Message]) -> Iterable[Attachment]:
    for number, part in enumerate(parts, start=1):
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            data = inner.as_bytes() if isinstance(inner, Message) else b""
            default = f"attachment-{number}.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            default = f"attachment-{number}"
        name = text_value(part.get_filename()) or default
        if data:
            yield Attachment(name=_safe_name(name), data=data, media_type=part.get_content_type())


def _msg_body(message: Any) -> str:
    body = getattr(message, "body", None)
    if isinstance(body, str) and body.strip():
        return body
    html = getattr(message, "htmlBody", None)
    if isinstance(html, bytes) and html.strip():
        return html_text(decode_text(html, what="e-mail body"))
    return ""


def _msg_attachments(attachments: Iterable[Any]) -> Iterable[Attachment]:
    for number, attachment in enumerate(attachments, start=1):
        data: Any = getattr(attachment, "data", None)
        name = (
            text_value(getattr(attachment, "longFilename", None))
            or text_value(getattr(attachment, "shortFilename", None))
            or f"attachment-{number}"
        )
        if isinstance(data, bytes) and data:
            yield Attachment(
                name=_safe_name(name), data=data, media_type=getattr(attachment, "mimetype", None)
            )
        elif data is not None and hasattr(data, "exportBytes"):  # an embedded message
            yield Attachment(name=_safe_name(name) + ".msg", data=data.exportBytes())


def _safe_name(name: str) -> str:
    """The file name alone (no directories), for the attachment's source name."""
    return name.replace("\\", "/").rsplit("/", 1)[-1][:200] or "attachment"


def html_text(html: str) -> str:
    """The text of an HTML body, one line per block."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(html)
    except Exception:  # empty or unparseable HTML: no text
        return ""
    for bad in root.xpath("//script|//style|//head"):
        bad.drop_tree()
    for block in root.iter("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
        block.tail = "\n" + (block.tail or "")
    text: str = root.text_content()
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
