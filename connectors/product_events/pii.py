"""PII: canonicalise e-mails and phones, keep only HMAC-SHA256(pepper) hex, mask raw text.

What is stored for each personal field is written down in docs/privacy.md ("PII at ingestion").
Canonical forms (:func:`canonical_email`, :func:`canonical_phone`) are plain functions of one
value, the single definition every hash of an e-mail or phone goes through: ingestion runs them
once per *distinct* value of a batch (a phone per distinct (value, country)) and joins the
hashes back in Polars; erasure computes a subject's hashes with :func:`subject_hashes`.

New fields are sorted by name (:func:`field_kind`, case- and separator-insensitive) into hashed,
generalised, dropped, allow-listed and masked ones (:func:`hash_extra_pii`). Masks run on the
decoded text: DuckDB's JSON reader decodes the values of valid lines, and :func:`mask_lines`
decodes ``\\uXXXX`` escapes in dead lines before masking them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable

import phonenumbers
import polars as pl

from connectors.product_events import settings as S

EMAIL_RE = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
# International numbers, "(415) 555-0123", and national numbers with a trunk 0 and separators
PHONE_RE = (
    r"\+\s?\d[\d\s().\-]{5,}\d"
    r"|\(\d{2,5}\)\s?\d[\d\s.\-]{3,}\d"
    r"|\b0\d{1,4}[\s.\-]\d[\d\s.\-]{3,}\d"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX4 = r"[0-9A-Fa-f]{1,4}"
# IPv4, and IPv6 written in full or with "::" (not "10:00:01", a time)
IP_RE = (
    rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
    rf"|\b(?:{_HEX4}:){{7}}{_HEX4}\b"
    rf"|\b(?:{_HEX4}:){{1,6}}:(?:{_HEX4}(?::{_HEX4}){{0,5}})?"
)
# A JSON key (its text, escapes kept) followed by a colon
_KEY_RE = r'"((?:[^"\\]|\\.){1,100})"\s*:'
# The value after a personal key: a string (even cut), or anything up to the next separator
_VALUE_RE = r'("(?:[^"\\]|\\.)*"?|[^,}\s]*)'
# A JSON escape: an escaped backslash (kept), or \uXXXX (decoded when safe)
_ESCAPE_RE = re.compile(r"(\\\\)|\\u([0-9a-fA-F]{4})")
REDACTED = '"[redacted]"'
# What masking writes in place of a value: a masked text holds one of them.
MASKS = (REDACTED, "[email]", "[phone]", "[ip]")


def hmac_hex(pepper: bytes, values: pl.Series) -> pl.Series:
    """HMAC-SHA256(pepper, value) as hex for each value; nulls stay null. Hashes distinct values only."""
    distinct = values.drop_nulls().unique()
    # A Python loop, but over *distinct* PII values (sign-ups), not over events.
    digests = [hmac_one(pepper, v) for v in distinct.to_list()]
    mapping = pl.DataFrame({"v": distinct, "h": pl.Series(digests, dtype=pl.String)})
    return (
        values.rename("v")
        .to_frame()
        .join(mapping, on="v", how="left", maintain_order="left")["h"]
        .rename(values.name)
    )


def hmac_one(pepper: bytes, value: str) -> str:
    """HMAC-SHA256(pepper, value) as hex: what ``*_hash`` columns hold."""
    return hmac.new(pepper, value.encode(), hashlib.sha256).hexdigest()


# -- canonical forms ------------------------------------------------------------------------------


def canonical_email(value: str | None) -> str | None:
    """An e-mail as it is hashed: Unicode NFKC (full-width letters and compatibility forms
    folded), trimmed, lower-cased; None when nothing is left."""
    if value is None:
        return None
    e = unicodedata.normalize("NFKC", value).strip().lower()
    return e or None


def canonical_phone(value: str | None, country: str | None = None) -> str | None:
    """A phone as it is hashed: E.164 by ``phonenumbers``, a national number read in the region
    of ``country`` (ISO code, any case), a ``00`` prefix read as ``+``. A number that cannot be
    placed (national, no or unknown country; not a number) is its digits, so it is still hashed,
    never stored; None when it has no digit."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    region = (country or "").strip().upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return digits
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def canonical_msisdn(value: str | None, country: str | None = None) -> str | None:
    """An MSISDN (a number in international form without ``+``, as telecom APIs write it) as a
    phone: a bare number that does not open with a trunk ``0`` is read as international."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if text[:1].isdigit() and not text.startswith("0"):
        text = "+" + text
    return canonical_phone(text, country)


def canonical_id(value: str | None) -> str | None:
    """An IP address, a person's name or an advertising id as it is hashed: NFKC, trimmed,
    lower-cased (an IDFA is upper-case on iOS and lower-case elsewhere)."""
    return canonical_email(value)


def legacy_phone_e164(value: str, country: str | None) -> str | None:
    """The phone normalisation before ``phonenumbers`` (fixed calling-code table, trunk ``0``
    rule): hashes stored before it cannot be recomputed (plaintext is not kept), so erasure
    looks for this form too (:func:`subject_hashes`)."""
    df = pl.DataFrame({"v": [value], "c": [country]}, schema={"v": pl.String, "c": pl.String})
    out = df.select(_legacy_phone_expr(pl.col("v"), pl.col("c"))).item()
    return None if out is None else str(out)


def _legacy_phone_expr(phone: pl.Expr, country: pl.Expr) -> pl.Expr:
    raw = phone.str.strip_chars()
    digits = raw.str.replace_all(r"\D", "")
    cc = country.str.to_uppercase().replace_strict(S.CALLING_CODES, default=None, return_dtype=pl.String)
    trunk = country.str.to_uppercase().is_in(list(S.TRUNK_ZERO))
    national = pl.when(trunk & digits.str.starts_with("0")).then(digits.str.slice(1)).otherwise(digits)
    national = (
        pl.when((cc == "1") & (national.str.len_chars() == 11) & national.str.starts_with("1"))
        .then(national.str.slice(1))
        .otherwise(national)
    )
    return (
        pl.when(digits.str.len_chars() == 0)
        .then(pl.lit(None, pl.String))
        .when(raw.str.starts_with("+"))
        .then("+" + digits)
        .when(~raw.str.starts_with("+") & digits.str.starts_with("00"))
        .then("+" + digits.str.slice(2))
        .when(cc.is_not_null())
        .then("+" + cc + national)
        .otherwise(digits)
    )


def subject_hashes(
    pepper: bytes, *, email: str | None = None, phone: str | None = None, country: str | None = None
) -> dict[str, list[str]]:
    """Every hash under which ``email``/``phone`` of one subject may be stored: the canonical
    form's, and the form before ``phonenumbers`` and NFKC (hashes already stored keep it: see
    docs/privacy.md). Erasure matches ``email_hash``/``phone_hash`` against these lists."""
    emails = {canonical_email(email), email.strip().lower() or None} if email is not None else set()
    phones = (
        {canonical_phone(phone, country), legacy_phone_e164(phone, country)} if phone is not None else set()
    )
    return {
        "email_hash": sorted({hmac_one(pepper, e) for e in emails if e}),
        "phone_hash": sorted({hmac_one(pepper, p) for p in phones if p}),
    }


# -- hashing a batch ------------------------------------------------------------------------------


def _per_distinct(inputs: pl.DataFrame, fn: Callable[[pl.DataFrame], pl.Series]) -> pl.Series:
    """``fn`` of the distinct rows of ``inputs`` whose first column is set, joined back to every
    row (null where it is not).

    A batch has ~300K rows but ~17K emails and phones and a few hundred user agents: string
    work per distinct value instead of per row."""
    keys = inputs.columns
    distinct = inputs.filter(pl.col(keys[0]).is_not_null()).unique()
    mapped = distinct.with_columns(_out=fn(distinct).cast(pl.String))
    joined = inputs.join(mapped, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return joined["_out"]


def _country(df: pl.DataFrame) -> pl.Series:
    if "country" in df.columns:
        return df["country"].cast(pl.String)
    return pl.Series("country", [None] * df.height, dtype=pl.String)


def _hashed(pepper: bytes, canon: Callable[[str | None], str | None]) -> Callable[[pl.DataFrame], pl.Series]:
    """Per distinct value (column ``v``): the HMAC of its canonical form."""

    def fn(d: pl.DataFrame) -> pl.Series:
        return hmac_hex(pepper, pl.Series([canon(v) for v in d["v"].to_list()], dtype=pl.String))

    return fn


def _phone_hashed(
    pepper: bytes, canon: Callable[[str | None, str | None], str | None]
) -> Callable[[pl.DataFrame], pl.Series]:
    """Per distinct (value ``v``, country ``c``): the HMAC of the phone's canonical form."""

    def fn(d: pl.DataFrame) -> pl.Series:
        forms = [canon(v, c) for v, c in zip(d["v"].to_list(), d["c"].to_list(), strict=True)]
        return hmac_hex(pepper, pl.Series(forms, dtype=pl.String))

    return fn


def _email_hash(df: pl.DataFrame, col: str, pepper: bytes) -> pl.Series:
    return _per_distinct(df[col].cast(pl.String).rename("v").to_frame(), _hashed(pepper, canonical_email))


def _phone_hash(df: pl.DataFrame, col: str, pepper: bytes, msisdn: bool = False) -> pl.Series:
    inputs = pl.DataFrame([df[col].cast(pl.String).rename("v"), _country(df).rename("c")])
    return _per_distinct(inputs, _phone_hashed(pepper, canonical_msisdn if msisdn else canonical_phone))


def hash_pii(df: pl.DataFrame, pepper: bytes) -> pl.DataFrame:
    """Replace ``email``/``phone`` by ``email_hash``/``phone_hash`` (HMAC-SHA256 hex of the
    canonical forms)."""
    null = pl.Series([None] * df.height, dtype=pl.String)
    email_hash = _email_hash(df, "email", pepper) if "email" in df.columns else null
    phone_hash = _phone_hash(df, "phone", pepper) if "phone" in df.columns else null
    return df.drop([c for c in S.PII_FIELDS if c in df.columns]).with_columns(
        email_hash=email_hash, phone_hash=phone_hash
    )


# -- new fields -----------------------------------------------------------------------------------


def name_tokens(name: str) -> list[str]:
    """The words of a field name, lower-case, whatever its case or separators:
    ``phoneNumber``, ``Phone-Number``, ``PHONE_NUMBER`` -> ``["phone", "number"]``."""
    n = unicodedata.normalize("NFKC", name)
    n = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", n)
    n = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", n)
    return [t for t in re.split(r"[^0-9a-z]+", n.lower()) if t]


def field_kind(name: str) -> str | None:
    """What the name of a new field says its values are (``settings.PERSONAL_KIND_*``), None
    for a field that is not personal by name; first match wins (the order of the checks is
    the policy's: docs/privacy.md)."""
    if name in S.NON_PERSONAL_FIELDS:
        return None
    if name in S.FIELD_KINDS:  # contract fields: personal or not by the contract (``ad_id`` is the ad)
        return S.PERSONAL_CONTRACT_FIELDS.get(name)
    tokens = name_tokens(name)
    joined = "".join(tokens)
    if joined in S.NON_PERSONAL_FIELDS:
        return None
    words = set(tokens) | {joined}
    for kind in (S.PERSONAL_KIND_EMAIL, S.PERSONAL_KIND_MSISDN, S.PERSONAL_KIND_PHONE):
        if words & S.PERSONAL_TOKENS[kind] or any(x in joined for x in S.PERSONAL_SUBSTRINGS[kind]):
            return kind
    if any(x in joined for x in S.PERSONAL_SUBSTRINGS[S.PERSONAL_KIND_USER_AGENT]) or tokens == ["ua"]:
        return S.PERSONAL_KIND_USER_AGENT
    if (
        words & S.PERSONAL_TOKENS[S.PERSONAL_KIND_ID]
        or joined == "name"
        or joined.endswith(S.PERSON_NAME_SUFFIXES)
        or joined in S.AD_ID_NAMES
        or joined.endswith("advertisingid")
    ):
        return S.PERSONAL_KIND_ID
    drop = S.PERSONAL_KIND_DROP
    if words & S.PERSONAL_TOKENS[drop] or any(x in joined for x in S.PERSONAL_SUBSTRINGS[drop]):
        return drop
    return None


# user agent -> "<os>/<browser>", first match of each list
_UA_OS = (
    ("iOS", r"iPhone|iPad|iPod|CPU OS"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("ChromeOS", r"CrOS"),
    ("macOS", r"Macintosh|Mac OS X"),
    ("Linux", r"Linux"),
)
_UA_BROWSER = (
    ("Edge", r"Edg(?:e|A|iOS)?/"),
    ("Samsung", r"SamsungBrowser"),
    ("Opera", r"OPR/|Opera"),
    ("Firefox", r"Firefox|FxiOS"),
    ("Chrome", r"Chrome|CriOS"),
    ("Safari", r"Safari"),
)


def generalise_user_agent(value: str | None) -> str | None:
    """A user agent reduced to ``<os>/<browser>`` families (``iOS/Safari``, ``other/other``): what
    reports use of it, without the versions and models that make it a fingerprint."""
    if value is None:
        return None
    os_name = next((n for n, rx in _UA_OS if re.search(rx, value)), "other")
    browser = next((n for n, rx in _UA_BROWSER if re.search(rx, value)), "other")
    return f"{os_name}/{browser}"


def _digits_at_least(d: pl.DataFrame, n: int) -> pl.Series:
    return d["v"].str.count_matches(r"\d") >= n


def _hash_or_mask(
    test: Callable[[pl.DataFrame], pl.Series], hashed: Callable[[pl.DataFrame], pl.Series]
) -> Callable[[pl.DataFrame], pl.Series]:
    """Per distinct value: hashed where ``test`` says it is the personal value the name says,
    else masked like any text (``email_opt_in: true`` is a flag, not an e-mail)."""

    def fn(d: pl.DataFrame) -> pl.Series:
        is_value = test(d)
        return pl.select(pl.when(is_value).then(hashed(d)).otherwise(mask_lines(d["v"]))).to_series()

    return fn


def _extra_column(df: pl.DataFrame, c: str, kind: str | None, pepper: bytes) -> pl.Series:
    """The stored values of new field ``c`` of kind ``kind`` (not ``drop``)."""
    v = df[c].cast(pl.String).rename("v")
    if kind in (S.PERSONAL_KIND_PHONE, S.PERSONAL_KIND_MSISDN):
        canon = canonical_msisdn if kind == S.PERSONAL_KIND_MSISDN else canonical_phone
        fn = _hash_or_mask(lambda d: _digits_at_least(d, S.PHONE_MIN_DIGITS), _phone_hashed(pepper, canon))
        return _per_distinct(pl.DataFrame([v, _country(df).rename("c")]), fn)
    if kind == S.PERSONAL_KIND_EMAIL:
        fn = _hash_or_mask(lambda d: d["v"].str.contains("@", literal=True), _hashed(pepper, canonical_email))
        return _per_distinct(v.to_frame(), fn)
    if kind == S.PERSONAL_KIND_ID:
        return _per_distinct(v.to_frame(), _hashed(pepper, canonical_id))
    if kind == S.PERSONAL_KIND_USER_AGENT:
        return _per_distinct(
            v.to_frame(),
            lambda d: pl.Series([generalise_user_agent(x) for x in d["v"].to_list()], dtype=pl.String),
        )
    if c in S.NON_PERSONAL_FIELDS:
        return df[c]
    return _per_distinct(v.to_frame(), lambda d: mask_lines(d["v"]))


def hash_extra_pii(df: pl.DataFrame, extras: Iterable[str], pepper: bytes) -> pl.DataFrame:
    """Apply the policy for new fields (docs/privacy.md, "PII at ingestion") to the ``extras``
    columns of ``df``: personal names hashed (same keyed hash and canonical forms as the contract
    fields), user agents generalised, addresses and the like dropped, allow-listed fields kept,
    and any other text masked (e-mail, phone and IP-looking values)."""
    drop = []
    for c in extras:
        if c not in df.columns:
            continue
        kind = field_kind(c)
        if kind == S.PERSONAL_KIND_DROP:
            drop.append(c)
            continue
        df = df.with_columns(_extra_column(df, c, kind, pepper).alias(c))
    return df.drop(drop)


# -- masking text ---------------------------------------------------------------------------------


def _decode_escape(m: re.Match[str]) -> str:
    if m.group(1):
        return m.group(1)
    ch = chr(int(m.group(2), 16))
    # a quote, a backslash, a control or a surrogate stays escaped: the text stays valid JSON
    if ch in '"\\' or ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
        return m.group(0)
    return ch


def decode_escapes(lines: pl.Series) -> pl.Series:
    """``lines`` with their JSON ``\\uXXXX`` escapes decoded (quotes, backslashes and controls
    excepted), so masks see ``alice@example.com`` in ``alice\\u0040example.com``. Only lines
    holding an escape go through Python (dead letters are few; escapes rarer)."""
    has = lines.str.contains(r"\u", literal=True).fill_null(False)
    if not has.any():
        return lines
    decoded = [
        _ESCAPE_RE.sub(_decode_escape, t) if h else t
        for t, h in zip(lines.to_list(), has.to_list(), strict=True)
    ]
    return pl.Series(lines.name, decoded, dtype=pl.String)


def _personal_key_pattern(lines: pl.Series) -> str | None:
    """A regex matching the personal keys (:func:`field_kind`) found in ``lines``, exactly as
    written, followed by their value; None when there is none."""
    keys = lines.str.extract_all(_KEY_RE).explode().drop_nulls().unique().to_list()
    names = {k: re.sub(r'^"|"\s*:$', "", k) for k in keys}
    personal = sorted({n for n in names.values() if field_kind(n) is not None})
    if not personal:
        return None
    alt = "|".join(
        "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in n) for n in personal
    )
    return rf'("(?:{alt})"\s*:\s*){_VALUE_RE}'


def mask_lines(lines: pl.Series) -> pl.Series:
    """Personal values masked in free text or JSON (even cut): escapes decoded first, then the
    value of every personal key (:func:`field_kind`, whatever its case or separators: ``Phone``,
    ``e_mail``, ``userAgent``) replaced whole, then e-mail, phone and IP-looking substrings.
    A text in which nothing was masked is returned as it was (escapes and all), so a dead
    letter without a mask is its landing line, byte for byte (dead-letter replay relies on it)."""
    lines = lines.cast(pl.String)
    decoded = decode_escapes(lines)
    pattern = _personal_key_pattern(decoded)
    masked = decoded.to_frame("l").select(
        (pl.col("l").str.replace_all(pattern, "${1}" + REDACTED) if pattern else pl.col("l"))
        .str.replace_all(EMAIL_RE, MASKS[1])
        .str.replace_all(PHONE_RE, MASKS[2])
        .str.replace_all(IP_RE, MASKS[3])
    )["l"]
    return pl.select(pl.when(masked == decoded).then(lines).otherwise(masked)).to_series().rename(lines.name)


def maybe_masked(col: pl.Expr) -> pl.Expr:
    """True where :func:`mask_lines` may have changed the text (it holds a mask); where false, the
    text is exactly what was masked."""
    return pl.any_horizontal([col.str.contains(m, literal=True) for m in MASKS])
