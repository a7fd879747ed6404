"""``roi privacy erase (--email E | --phone P [--country C] | --user-id U | --device-id D)
[--request-id R] [--now]``: a GDPR erasure request (docs/privacy.md, "Erasure").

The request is recorded in ``audit.erasure_requests`` (only hashes under the tombstone key,
``ROI_TOMBSTONE_KEY``; never the value given) and the hourly ``erasure`` flow carries it out
within 72 hours. With ``--now`` it is carried out at once and the command returns when it is
complete. The same ``--request-id`` again for the same subject is the same request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import typer

from roi.cli.common import console, warehouse_turn
from roi.core.errors import UserInputError
from roi.core.settings import get_settings

app = typer.Typer(help="Personal data: GDPR erasure requests (docs/privacy.md).", no_args_is_help=True)

MAX_VALUE = 320
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
COUNTRY = re.compile(r"[A-Za-z]{2}")


def _subject(
    email: str | None, phone: str | None, country: str | None, user_id: str | None, device_id: str | None
) -> tuple[str, str]:
    """The one (kind, value) given, checked; a bad combination or value is one line."""
    given = {
        k: v
        for k, v in (("email", email), ("phone", phone), ("user_id", user_id), ("device_id", device_id))
        if v is not None
    }
    if len(given) != 1:
        raise UserInputError("name exactly one subject: --email, --phone, --user-id or --device-id")
    kind, value = next(iter(given.items()))
    text = value.strip()
    flag = "--" + kind.replace("_", "-")
    if not text or not text.isprintable() or len(text) > MAX_VALUE:
        raise UserInputError(f"{flag} must be one printable value of at most {MAX_VALUE} characters")
    if kind == "email" and "@" not in text:
        raise UserInputError(f"{flag} {text!r} is not an e-mail address: it needs an @")
    if kind == "phone" and sum(ch.isdigit() for ch in text) < 5:
        raise UserInputError(f"{flag} must be a phone number (at least 5 digits)")
    if country is not None and kind != "phone":
        raise UserInputError("--country goes with --phone only (the region a national number is read in)")
    if country is not None and not COUNTRY.fullmatch(country.strip()):
        raise UserInputError(f"--country {country!r} is not a two-letter ISO country code, e.g. GB")
    return kind, text


def _request_id(value: str | None) -> str | None:
    if value is not None and not REQUEST_ID.fullmatch(value):
        raise UserInputError(
            "--request-id must be 1-100 letters, digits, '.', '_', ':' or '-', e.g. ticket-4711"
        )
    return value


@app.command()
def erase(
    email: Annotated[str | None, typer.Option("--email", help="The subject's e-mail address.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The subject's phone number.")] = None,
    country: Annotated[
        str | None,
        typer.Option("--country", help="With --phone: the country a national number is read in (GB)."),
    ] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="The subject's user id.")] = None,
    device_id: Annotated[str | None, typer.Option("--device-id", help="The subject's device id.")] = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Your reference for the request (default: a new id).")
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Carry the erasure out at once; return when complete.")
    ] = False,
) -> None:
    """Record an erasure request (done by the hourly erasure flow within 72 h), or erase now."""
    kind, value = _subject(email, phone, country, user_id, device_id)
    rid = _request_id(request_id)
    settings = get_settings()
    key, key_id = settings.require_tombstone_key()
    pepper = settings.require_pepper() if kind in ("email", "phone") else b""
    # start-up time (docs/architecture.md): flows import Prefect
    from flows.erasure import run_erasures
    from flows.erasure_requests import Subject, record_request, status

    received = datetime.now(UTC)
    with warehouse_turn("privacy erase") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            subject = Subject(kind, value, country.strip().upper() if country else None)
            rid = record_request(
                cur, subject, received_at=received, pepper=pepper, key=key, key_id=key_id, request_id=rid
            )
        finally:
            cur.close()
        if not now:
            console.print(f"erasure request {rid} recorded: the hourly erasure flow completes it within 72 h")
            return
        run_erasures(datetime.now(UTC), rid)
        cur = warehouse.connection().cursor()
        try:
            state = status(cur, rid)
        finally:
            cur.close()
    counts = state[2] if state else {}
    rows = sum(v for k, v in counts.items() if k != "identifiers")
    console.print(
        f"erasure request {rid} complete: {counts.get('identifiers', 0)} identifiers, {rows} values rewritten"
    )
