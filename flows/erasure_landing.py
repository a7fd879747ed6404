"""Erasure in the landing files: each file holding a line of the subject is rewritten in place.

A line that holds one of the subject's identifiers (as a JSON string: ``"<identifier>"``) gets
the same pseudonyms as the warehouse rows (:func:`flows.erasure.pseudonym`), so a reload of the
file loads the same pseudonymised rows; its other personal fields (e-mail, phone, IP, names,
advertising ids, user agent, addresses: ``pii.field_kind``) become null. A line that is not valid
JSON gets the textual replacement only. Other lines are left byte for byte.

The file keeps its key: the manifest (``raw_events.landing_manifest``) keys files by key, so the
rewrite is not ingested again as new data. Buckets that keep object versions keep the old version:
deleting it is not done here (docs/privacy.md).
"""

from __future__ import annotations

import gzip
import json
import posixpath
from typing import Any

from connectors.product_events import pii
from connectors.product_events.discovery import FileReader, list_landing_files

# Fields that carry the joins: their values are pseudonymised, never nulled.
JOIN_FIELDS = frozenset(
    {"user_id", "from_user_id", "to_user_id", "anonymous_id", "device_id", "gclid", "fbclid", "ttclid"}
)
NULLED_KINDS = frozenset({"email", "phone", "msisdn", "id", "user_agent", "drop"})


def _replace_all(text: str, mapping: dict[str, str]) -> str:
    for value in sorted(mapping, key=len, reverse=True):
        text = text.replace(value, mapping[value])
    return text


def _rewrite_object(obj: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k not in JOIN_FIELDS and pii.field_kind(k) in NULLED_KINDS:
            out[k] = None
        elif isinstance(v, str):
            out[k] = mapping.get(v) or _replace_all(v, mapping)
        elif isinstance(v, dict):
            out[k] = _rewrite_object(v, mapping)
        else:
            out[k] = v
    return out


def rewrite_line(line: str, mapping: dict[str, str], quoted: list[str]) -> str | None:
    """The line rewritten, or None when it holds none of the identifiers."""
    if not any(q in line for q in quoted):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return _replace_all(line, mapping)
    if not isinstance(obj, dict):
        return _replace_all(line, mapping)
    return json.dumps(_rewrite_object(obj, mapping), separators=(",", ":"), ensure_ascii=False)


def rewrite_text(text: str, mapping: dict[str, str]) -> tuple[str, int]:
    """A file's text with the subject's lines rewritten, and how many were."""
    quoted = [json.dumps(v) for v in mapping]
    lines = text.split("\n")
    changed = 0
    for i, line in enumerate(lines):
        new = rewrite_line(line, mapping, quoted)
        if new is not None and new != line:
            lines[i] = new
            changed += 1
    return "\n".join(lines), changed


def rewrite_landing(landing_url: str, mapping: dict[str, str]) -> dict[str, int]:
    """Rewrite every landing file holding one of ``mapping``'s identifiers (see the module
    docstring): ``{"landing.files": n, "landing.lines": m}``."""
    if not mapping:
        return {}
    listing = list_landing_files(landing_url)
    if listing.height == 0:
        return {}
    fs, root = FileReader(landing_url).filesystem()
    needles = [json.dumps(v).encode() for v in mapping]
    files = lines = 0
    for key in listing["file_key"].to_list():
        path = posixpath.join(root, key)
        with fs.open(path, "rb") as fh:
            raw = gzip.decompress(fh.read())
        if not any(n in raw for n in needles):
            continue
        text, n = rewrite_text(raw.decode("utf-8", errors="surrogateescape"), mapping)
        if n:
            with fs.open(path, "wb") as fh:
                fh.write(gzip.compress(text.encode("utf-8", errors="surrogateescape")))
            files += 1
            lines += n
    return {"landing.files": files, "landing.lines": lines}
