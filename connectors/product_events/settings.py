"""Constants of the product-event connector: field contract, table names, batch limits, phone rules.

Everything that a reviewer might want to tune or check against the landing-file contract lives
here, apart from the logic that uses it.
"""

from __future__ import annotations

from datetime import timedelta

DATASET = "raw_events"
LANDING_PREFIX = "events"
FILE_GLOB = "events/**/*.jsonl.gz"

# Tables this connector writes (schema ``raw_events``).
T_EVENTS = "events"
T_MMP = "mmp_touches"
T_SKAN = "skan_postbacks"
T_IDENTITY = "identity_map"
T_DEAD = "dead_letters"
T_MANIFEST = "landing_manifest"
T_ERASED = "erased_subjects"
T_QUARANTINE = "quarantined_files"
# The dlt pipeline the flows load product events with (its schema holds these tables' columns):
# the CLI's landing and dead-letter commands use the same one.
PIPELINE_NAME = "roi_product_events"

# Backpressure: one load package holds at most this many files / compressed bytes. Bytes bind
# first on busy days: measured at scale 1.0 (8.5M lines), 64 MB of gzip (~530K events) per
# package peaks at ~2.8 GB RSS for the whole load, DuckDB warehouse cache included (the parser
# works in chunks and each batch's raw text and frames are dropped as soon as used), which
# keeps a 4 GB budget; the file count bounds backlogs of tiny late files. Each package costs
# dlt ~1 s of fixed work, so packages should not be tiny.
DEFAULT_BATCH_FILES = 1000
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
# Decompressed text per batch: a batch closes before the file that would take its text past this
# (a file alone may be larger, up to the file cap). Landing files inflate ~3.8x (measured on the
# simulated worlds), so 64 MB of gzip is ~240 MB of text: the byte limit above binds first on
# ordinary files and this one on highly compressible ones (a gzip bomb of small size).
DEFAULT_BATCH_TEXT_BYTES = 256 * 1024 * 1024
# A file whose decompressed text exceeds this is quarantined unread (``ROI_LANDING_MAX_FILE_MB``
# overrides it for the flows); files are gunzipped as a stream, so it is never held whole.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
# Bytes of text gunzipped per read of the stream (ISA-L is as fast in 4 MB steps as whole).
READ_CHUNK_BYTES = 4 * 1024 * 1024
# Threads reading a batch's files: local reads are bound by gunzip (two cores), remote reads
# wait on the network, where more threads than cores pay off.
READ_THREADS_LOCAL = 2
READ_THREADS_REMOTE = 8

# JSON value kinds, as DuckDB's json_type names them.
STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
TIMESTAMP = "timestamp"  # an ISO-8601 string

# Every field of the contract and the JSON kind it must have. A value of another kind is a
# dead letter (reason ``wrong_type:<field>``), never a silent cast.
FIELD_KINDS: dict[str, str] = {
    "event_id": STRING,
    "event_type": STRING,
    "event_ts": TIMESTAMP,
    "received_at": TIMESTAMP,
    "schema_version": INTEGER,
    # landing
    "anonymous_id": STRING,
    "utm_source": STRING,
    "utm_medium": STRING,
    "utm_campaign": STRING,
    "utm_content": STRING,
    "utm_term": STRING,
    "gclid": STRING,
    "fbclid": STRING,
    "ttclid": STRING,
    # app_install / user_signup
    "device_id": STRING,
    "device_platform": STRING,
    "user_id": STRING,
    "country": STRING,
    "email": STRING,
    "phone": STRING,
    "is_test_account": BOOLEAN,
    # first_ride / first_order / purchase
    "revenue": NUMBER,
    "currency": STRING,
    # user_merged
    "from_user_id": STRING,
    "to_user_id": STRING,
    # mmp_touch
    "platform": STRING,
    "campaign_id": STRING,
    "ad_group_id": STRING,
    "ad_id": STRING,
    "touch_type": STRING,
    "touch_ts": TIMESTAMP,
    # skan_postback
    "postback_id": STRING,
    "ad_network_id": STRING,
    "source_identifier": STRING,
    "conversion_value": INTEGER,
    "coarse_conversion_value": STRING,
    "postback_sequence": INTEGER,
    "did_win": BOOLEAN,
}

TIMESTAMP_FIELDS = tuple(f for f, k in FIELD_KINDS.items() if k == TIMESTAMP)

# Plausible timestamps. ``received_at`` is the collector's clock: it must lie in
# [RECEIVED_AT_MIN, RECEIVED_AT_MAX). Every other timestamp (``event_ts``, ``touch_ts``) must lie
# within [received_at - TS_MAX_BEFORE_RECEIVED, received_at + TS_MAX_AFTER_RECEIVED]: a device
# clock a little ahead, or an event delivered up to 400 days late (SKAN and MMP callbacks come
# days late; retries and offline queues weeks). ``infinity``, ``epoch`` and year-1970 or
# year-294000 values parse as timestamps and fail here (``implausible_timestamp:<field>``),
# rather than panicking Polars or dragging every window back to 1970.
RECEIVED_AT_MIN = "2010-01-01 00:00:00+00"
RECEIVED_AT_MAX = "2100-01-01 00:00:00+00"
TS_MAX_BEFORE_RECEIVED = timedelta(days=400)
TS_MAX_AFTER_RECEIVED = timedelta(hours=1)

COMMON_REQUIRED = ("event_id", "event_type", "event_ts", "received_at", "schema_version")

# Required fields beyond the common ones, per event type. Unknown types are dead letters.
# A user_signup needs anonymous_id (web) or device_id (app): checked separately.
REQUIRED: dict[str, tuple[str, ...]] = {
    "landing": ("anonymous_id",),
    "app_install": ("device_id", "device_platform"),
    "user_signup": ("user_id", "device_platform"),
    "first_ride": ("user_id",),
    "first_order": ("user_id",),
    "purchase": ("user_id",),
    "user_merged": ("from_user_id", "to_user_id"),
    "mmp_touch": ("device_id", "platform", "campaign_id", "touch_type", "touch_ts"),
    "skan_postback": ("postback_id", "platform", "source_identifier", "postback_sequence"),
}
EVENT_TYPES = tuple(REQUIRED)

# Where each event type lands. user_merged also feeds the identity map.
TABLE_OF_TYPE: dict[str, str] = {t: T_EVENTS for t in EVENT_TYPES} | {
    "mmp_touch": T_MMP,
    "skan_postback": T_SKAN,
}

# Columns of each target table (besides the common ones and schema-v2 extras). ``events`` keeps
# device_id (app installs and app sign-ups join MMP touches through it); email/phone become hashes.
EVENT_COLUMNS = (
    "anonymous_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "fbclid",
    "ttclid",
    "device_id",
    "device_platform",
    "user_id",
    "country",
    "is_test_account",
    "revenue",
    "currency",
    "from_user_id",
    "to_user_id",
)
MMP_COLUMNS = ("device_id", "platform", "campaign_id", "ad_group_id", "ad_id", "touch_type", "touch_ts")
SKAN_COLUMNS = (
    "postback_id",
    "ad_network_id",
    "platform",
    "source_identifier",
    "conversion_value",
    "coarse_conversion_value",
    "postback_sequence",
    "did_win",
)
COMMON_COLUMNS = ("event_id", "event_type", "event_ts", "received_at", "schema_version", "event_date")
LINEAGE_COLUMNS = ("_file_key", "_line_no")

# PII: raw fields that never reach a table; their HMAC-SHA256 goes to <field>_hash instead.
PII_FIELDS = ("email", "phone")

# PII at ingestion, new (non-contract) fields: what happens to a field is decided by its NAME,
# compared case- and separator-insensitively (``Phone``, ``phone_number``, ``e-mail``,
# ``userAgent`` are tokens ``phone``, ``phone number``, ``e mail``, ``user agent``), first match
# wins (docs/privacy.md, "PII at ingestion"):
#   pass        the allow-list of known non-personal fields: kept as sent;
#   email       hashed as an e-mail (canonical form) when the value holds an "@", else masked;
#   phone       hashed as a phone (E.164 in the event's country) when it holds >= 5 digits;
#   msisdn      the same, a bare number read as international ("4915..." is "+4915...");
#   id          hashed (NFKC, trim, lower-case): IP addresses, person names, advertising ids;
#   user_agent  generalised to "<os>/<browser>" (a full user agent is a fingerprint; its hash
#               serves nothing);
#   drop        not stored (a hash of an address, a birth date or a password serves nothing);
#   otherwise   kept, with e-mail, phone and IP-looking values masked.
NON_PERSONAL_FIELDS = frozenset(
    {"app_version", "consent", "os_version", "locale", "app_build", "sdk_version"}
)
PERSONAL_KIND_EMAIL = "email"
PERSONAL_KIND_PHONE = "phone"
PERSONAL_KIND_MSISDN = "msisdn"
PERSONAL_KIND_ID = "id"
PERSONAL_KIND_USER_AGENT = "user_agent"
PERSONAL_KIND_DROP = "drop"
# a name token (whole word) that makes a field of the kind
PERSONAL_TOKENS: dict[str, frozenset[str]] = {
    PERSONAL_KIND_EMAIL: frozenset({"email", "mail", "emailaddress"}),
    PERSONAL_KIND_MSISDN: frozenset({"msisdn"}),
    PERSONAL_KIND_PHONE: frozenset({"phone", "mobile", "tel", "telephone", "cell", "cellphone", "fax"}),
    PERSONAL_KIND_ID: frozenset({"ip", "ipv4", "ipv6", "ipaddress", "ipaddr"}),
    PERSONAL_KIND_DROP: frozenset(
        {"address", "street", "postcode", "zipcode", "zip", "postal", "dob", "birthday", "birthdate"}
        | {"password", "passwd", "ssn", "iban", "passport"}
    ),
}
# a substring of the name without separators that makes a field of the kind
PERSONAL_SUBSTRINGS: dict[str, tuple[str, ...]] = {
    PERSONAL_KIND_EMAIL: ("email",),
    PERSONAL_KIND_MSISDN: ("msisdn",),
    PERSONAL_KIND_PHONE: ("phone",),
    PERSONAL_KIND_USER_AGENT: ("useragent",),
    PERSONAL_KIND_DROP: (
        "dateofbirth",
        "birthdate",
        "creditcard",
        "cardnumber",
        "postalcode",
        "streetaddress",
    ),
}
# the name without separators ends with one of these: a person's name
PERSON_NAME_SUFFIXES = (
    "firstname",
    "lastname",
    "fullname",
    "givenname",
    "familyname",
    "surname",
    "middlename",
    "forename",
    "maidenname",
    "nickname",
    "username",
    "displayname",
    "customername",
    "contactname",
)
# the name without separators is one of these: an advertising or device id
AD_ID_NAMES = frozenset(
    {"idfa", "idfv", "gaid", "aaid", "adid", "oaid", "maid", "ifa", "advertisingid", "googleadid"}
    | {"androidid", "imei", "macaddress", "remoteaddr", "clientaddr", "xforwardedfor"}
)
# Contract fields whose values are personal (masked whole in dead letters). Other contract
# fields never are: ``ad_id`` is the ad, not an advertising id.
PERSONAL_CONTRACT_FIELDS: dict[str, str] = {
    "email": PERSONAL_KIND_EMAIL,
    "phone": PERSONAL_KIND_PHONE,
    "device_id": PERSONAL_KIND_ID,
    "anonymous_id": PERSONAL_KIND_ID,
}
# Phones: at least this many digits before a value of a phone-named field is read as a number
# (``is_mobile: true`` is a flag, not a phone).
PHONE_MIN_DIGITS = 5

# Erasure: the columns of incoming rows each ``erased_subjects.subject_type`` matches.
ERASURE_MATCH: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "from_user_id", "to_user_id"),
    "email_hash": ("email_hash",),
    "phone_hash": ("phone_hash",),
    "device_id": ("device_id",),
    "anonymous_id": ("anonymous_id",),
}

# Dedupe: among all copies of an ``event_id`` the one lowest on these columns wins (the contract's
# rule: earliest received, then file key, then line number).
DEDUPE_ORDER = ("received_at", "_file_key", "_line_no")

# Manifest: what became of each line of a file; they sum to ``lines_read``. ``replaced_earlier``
# counts loaded lines that replaced a copy loaded from another file before.
LINE_FATES = ("loaded", "duplicates_dropped", "dead_letters", "erased_dropped")
MANIFEST_COUNTS = ("lines_read", *LINE_FATES, "replaced_earlier")

# The phone normalisation before ``phonenumbers`` (``pii.legacy_phone_e164``), kept to find hashes
# stored before it (erasure): E.164 country calling codes, and the national trunk prefix dropped
# before adding them (Italy keeps its leading 0 in international format; Spain and the US have no
# trunk 0).
CALLING_CODES: dict[str, str] = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "DE": "49",
    "FR": "33",
    "ES": "34",
    "IT": "39",
    "NL": "31",
    "BE": "32",
    "AT": "43",
    "CH": "41",
    "IE": "353",
    "PT": "351",
    "SE": "46",
    "DK": "45",
    "PL": "48",
    "AU": "61",
}
TRUNK_ZERO = frozenset({"GB", "DE", "FR", "NL", "BE", "AT", "CH", "IE", "SE", "PL", "AU"})

# Dead-letter reasons (a reason may carry ``:<field>`` or ``:<value>``).
R_MALFORMED = "malformed_json"
R_NOT_OBJECT = "not_an_object"
R_EMPTY = "empty_line"
R_ENCODING = "invalid_utf8"
R_MISSING = "missing_field"
R_WRONG_TYPE = "wrong_type"
R_UNKNOWN_TYPE = "unknown_event_type"
R_IMPLAUSIBLE_TS = "implausible_timestamp"
# A new field named like a contract/connector column but for case or separators (``event_ID``),
# or a line with two spellings of one new field (``promoCode`` and ``PromoCode``).
R_NAME_CLASH = "field_name_clash"
DEAD_LETTER_REASONS = (
    R_EMPTY,
    R_ENCODING,
    R_MALFORMED,
    R_NOT_OBJECT,
    R_NAME_CLASH,
    R_MISSING,
    R_WRONG_TYPE,
    R_IMPLAUSIBLE_TS,
    R_UNKNOWN_TYPE,
)
