"""Vectorised random identifiers and PII (no per-row Python): uuids, hex ids, click ids, emails, phones."""

from __future__ import annotations

import numpy as np
import polars as pl

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)
_UUID_POS = [i for i in range(36) if i not in _DASHES]


def _bytes_to_series(chars: np.ndarray) -> pl.Series:
    """An ``(n, width)`` uint8 array of ASCII characters as a polars String series."""
    _n, width = chars.shape
    return pl.Series(np.ascontiguousarray(chars).view(f"S{width}").ravel()).cast(pl.String)


def hex_ids(rng: np.random.Generator, n: int, nbytes: int, prefix: str = "") -> pl.Series:
    """``n`` random lower-case hex strings of ``2 * nbytes`` characters, optionally prefixed."""
    raw = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    nib = np.empty((n, 2 * nbytes), dtype=np.uint8)
    nib[:, 0::2] = raw >> 4
    nib[:, 1::2] = raw & 15
    s = _bytes_to_series(_HEX[nib])
    return (prefix + s) if prefix else s


def uuids(rng: np.random.Generator, n: int, upper: bool = False) -> pl.Series:
    """``n`` random version-4 UUID strings (upper case, as iOS reports IDFA/IDFV, when ``upper``)."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nib = np.empty((n, 32), dtype=np.uint8)
    nib[:, 0::2] = raw >> 4
    nib[:, 1::2] = raw & 15
    lut = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8) if upper else _HEX
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, list(_DASHES)] = ord("-")
    out[:, _UUID_POS] = lut[nib]
    return _bytes_to_series(out)


def token(rng: np.random.Generator, n: int, length: int, prefix: str) -> pl.Series:
    """URL-safe random tokens shaped like ad click ids (``gclid``/``fbclid``/``ttclid``)."""
    return prefix + _bytes_to_series(_B64[rng.integers(0, 64, (n, length))])


FIRST_NAMES = [
    "anna",
    "james",
    "maria",
    "john",
    "emma",
    "oliver",
    "sophie",
    "liam",
    "mia",
    "noah",
    "lea",
    "lucas",
    "emily",
    "jack",
    "chloe",
    "paul",
    "clara",
    "louis",
    "hannah",
    "max",
    "lena",
    "leon",
    "sarah",
    "tom",
    "julia",
    "ben",
    "laura",
    "felix",
    "marie",
    "hugo",
    "alice",
    "ethan",
    "grace",
    "adam",
    "zoe",
    "david",
    "lucy",
    "jan",
    "ella",
    "finn",
    "ava",
    "leo",
    "nina",
    "sam",
    "ruby",
]
LAST_NAMES = [
    "smith",
    "johnson",
    "brown",
    "miller",
    "davis",
    "wilson",
    "taylor",
    "clark",
    "lewis",
    "walker",
    "hall",
    "young",
    "king",
    "wright",
    "mueller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "jones",
    "evans",
    "roberts",
    "green",
    "baker",
    "hughes",
    "ward",
]
EMAIL_DOMAINS = {
    "US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com"),
    "GB": ("gmail.com", "btinternet.com", "outlook.com", "icloud.com", "yahoo.co.uk"),
    "DE": ("gmail.com", "web.de", "gmx.de", "t-online.de", "icloud.com"),
    "FR": ("gmail.com", "orange.fr", "free.fr", "laposte.net", "icloud.com"),
}


def _pick(rng: np.random.Generator, values: tuple[str, ...] | list[str], n: int) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(rng.integers(0, len(values), n))


def emails(rng: np.random.Generator, country: pl.Series, test: np.ndarray) -> pl.Series:
    """Plausible, mostly unique email addresses; test accounts use the company's QA alias."""
    n = len(country)
    first = _pick(rng, FIRST_NAMES, n)
    last = _pick(rng, LAST_NAMES, n)
    tag = hex_ids(rng, n, 2)
    sep = pl.Series([".", "_", ""]).gather(rng.integers(0, 3, n))
    dom_idx = rng.integers(0, 5, n)
    domain = pl.Series([""] * n, dtype=pl.String)
    frame = pl.DataFrame({"c": country, "i": dom_idx})
    for c, doms in EMAIL_DOMAINS.items():
        domain = pl.Series(
            np.where(
                (frame["c"] == c).to_numpy(), pl.Series(doms).gather(dom_idx).to_numpy(), domain.to_numpy()
            )
        )
    out = first + sep + last + tag + "@" + domain
    qa = "qa+" + hex_ids(rng, n, 4) + "@streamride-test.com"
    return pl.Series(np.where(test, qa.to_numpy(), out.to_numpy()), dtype=pl.String)


def _digits(rng: np.random.Generator, n: int, k: int) -> pl.Series:
    return pl.Series(rng.integers(0, 10**k, n, dtype=np.int64)).cast(pl.String).str.zfill(k)


def phones(rng: np.random.Generator, country: pl.Series, local: np.ndarray) -> pl.Series:
    """Mobile numbers: E.164-ish international format, or national format (no country code) when ``local``."""
    n = len(country)
    area = pl.Series(rng.integers(201, 990, n, dtype=np.int64)).cast(pl.String)
    a, b = _digits(rng, n, 3), _digits(rng, n, 4)
    uk, de = _digits(rng, n, 6), _digits(rng, n, 8)
    fr = [_digits(rng, n, 2) for _ in range(4)]
    fr_pref = pl.Series(["6", "7"]).gather(rng.integers(0, 2, n))
    de_pref = pl.Series(["151", "160", "171", "176"]).gather(rng.integers(0, 4, n))
    intl = {
        "US": "+1 " + area + " " + a + " " + b,
        "GB": "+44 7" + a + " " + uk,
        "DE": "+49 " + de_pref + " " + de,
        "FR": "+33 " + fr_pref + " " + fr[0] + " " + fr[1] + " " + fr[2] + " " + fr[3],
    }
    national = {
        "US": "(" + area + ") " + a + "-" + b,
        "GB": "07" + a + " " + uk,
        "DE": "0" + de_pref + " " + de,
        "FR": "0" + fr_pref + " " + fr[0] + " " + fr[1] + " " + fr[2] + " " + fr[3],
    }
    c = country.to_numpy()
    out = np.full(n, "", dtype=object)
    for code in intl:
        m = c == code
        out = np.where(m & ~local, intl[code].to_numpy(), out)
        out = np.where(m & local, national[code].to_numpy(), out)
    return pl.Series(out, dtype=pl.String)
