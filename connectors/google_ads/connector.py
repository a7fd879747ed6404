"""Google Ads connector: declarations only; the SDK base runs it.

REST JSON quirks handled here: camelCase keys, int64 metrics as strings, zero or empty
fields left out of a row entirely (so a missing ``hour`` is hour 0 and a missing
``costMicros`` is 0), rate limits as 429 with a ``retryDelay`` duration string (retried after
it), the daily operations quota as 429 *without* a delay (fatal: retrying cannot help before
the quota resets), expired access tokens as 401 UNAUTHENTICATED (refreshed once).

Report pages are decoded straight from the response bytes into Arrow (``pyarrow.json``, C++,
no Python object per row) and converted column-wise; see :func:`decode_search_page`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import requests
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from connector_sdk import AD_GROUPS, CAMPAIGNS, Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connector_sdk.exceptions import AuthenticationError
from connector_sdk.http import Decoder, Verdict, body_excerpt, cached_json, default_classifier, fast_loads
from connectors.google_ads import settings as S

REPORT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("campaign_id", pa.string()),
        ("ad_group_id", pa.string()),
        ("ad_id", pa.string()),
        ("report_date", pa.date32()),
        ("report_hour", pa.int8()),
        ("currency", pa.string()),
        ("time_zone", pa.string()),
        ("impressions", pa.int64()),
        ("clicks", pa.int64()),
        ("cost_micros", pa.int64()),
        ("conversions", pa.float64()),
    ]
)

# One search result row as the REST API sends it (fields we read; others are ignored).
_RESULT = pa.struct(
    [
        ("campaign", pa.struct([("id", pa.string())])),
        ("adGroup", pa.struct([("id", pa.string())])),
        ("adGroupAd", pa.struct([("ad", pa.struct([("id", pa.string())]))])),
        ("segments", pa.struct([("date", pa.string()), ("hour", pa.int64())])),
        (
            "metrics",
            pa.struct(
                [
                    ("impressions", pa.string()),
                    ("clicks", pa.string()),
                    ("costMicros", pa.string()),
                    ("conversions", pa.float64()),
                ]
            ),
        ),
    ]
)
_PAGE = pa.schema([("results", pa.list_(_RESULT)), ("nextPageToken", pa.string())])
# report column <- path in a result row, and the value a missing (zero/empty) field stands for
_LEAVES: dict[str, tuple[tuple[str, ...], Any]] = {
    "campaign_id": (("campaign", "id"), None),
    "ad_group_id": (("adGroup", "id"), None),
    "ad_id": (("adGroupAd", "ad", "id"), None),
    "report_date": (("segments", "date"), None),
    "report_hour": (("segments", "hour"), 0),
    "impressions": (("metrics", "impressions"), 0),
    "clicks": (("metrics", "clicks"), 0),
    "cost_micros": (("metrics", "costMicros"), 0),
    "conversions": (("metrics", "conversions"), 0.0),
}


def decode_search_page(body: bytes) -> dict[str, Any]:
    """A ``googleAds:search`` page as ``{"results": <Arrow StructArray>, "nextPageToken": str|None}``.

    ``pyarrow.json`` parses the bytes in C++ (one JSON object, pretty-printed or not); when a
    field has an unexpected JSON type (a number where Google documents a string), the page is
    parsed with orjson and Arrow infers the types instead, and :func:`results_columns` casts.
    """
    if not body:
        return {"results": pa.array([], _RESULT), "nextPageToken": None}
    try:
        table = pj.read_json(
            io.BytesIO(body),
            read_options=pj.ReadOptions(block_size=len(body) + 64, use_threads=False),
            parse_options=pj.ParseOptions(
                explicit_schema=_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True
            ),
        )
    except pa.ArrowInvalid:
        doc = fast_loads(body)
        rows = doc.get("results") or []
        results = pa.array(rows) if rows else pa.array([], _RESULT)
        return {"results": results, "nextPageToken": doc.get("nextPageToken")}
    lists = table.column("results").combine_chunks()
    results = lists.flatten() if len(lists) else pa.array([], _RESULT)
    token = table.column("nextPageToken")[0].as_py() if table.num_rows else None
    return {"results": results, "nextPageToken": token}


def _leaf(results: pa.StructArray, path: tuple[str, ...]) -> pa.Array | None:
    arr: pa.Array = results
    for name in path:
        if not isinstance(arr.type, pa.StructType) or arr.type.get_field_index(name) < 0:
            return None
        arr = pc.struct_field(arr, name)
    return arr


def results_columns(results: pa.StructArray, schema: pa.Schema) -> dict[str, pa.Array]:
    """Report columns from result rows, column-wise: int64 strings cast, omitted zeros filled."""
    n = len(results)
    out: dict[str, pa.Array] = {}
    for column, (path, missing) in _LEAVES.items():
        target = schema.field(column).type
        arr = _leaf(results, path)
        if arr is None:
            arr = pa.nulls(n, target)
        elif pa.types.is_floating(arr.type) and pa.types.is_string(target):
            arr = pc.cast(pc.cast(arr, pa.int64()), target)  # an id that arrived as a JSON number
        else:
            arr = pc.cast(arr, target)
        out[column] = pc.fill_null(arr, pa.scalar(missing, target)) if missing is not None else arr
    return out


_DURATION = re.compile(r"^\s*([0-9.]+)s\s*$")


def retry_delay(body: Any) -> float | None:
    """Google's ``retryDelay`` ("40s") from a RESOURCE_EXHAUSTED error body, in seconds."""
    try:
        for detail in body["error"].get("details", []):
            for err in detail.get("errors", []):
                delay = err.get("details", {}).get("quotaErrorDetails", {}).get("retryDelay")
                if isinstance(delay, str) and (m := _DURATION.match(delay)):
                    return float(m.group(1))
                if isinstance(delay, dict):  # protobuf Duration as JSON object
                    return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return None


def _is_resource_exhausted(body: Any) -> bool:
    """True for a Google error body that says RESOURCE_EXHAUSTED (status or quotaError code)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return False
    err = body["error"]
    if err.get("status") == "RESOURCE_EXHAUSTED":
        return True
    try:
        return any(
            "quotaError" in (e.get("errorCode") or {}) for d in err.get("details", []) for e in d.get("errors", [])
        )
    except (AttributeError, TypeError):
        return False


@register
class GoogleAdsConnector(Connector):
    """Google Ads ad performance (ad x hour, account time zone), campaigns and ad groups."""

    name = "google_ads"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="ad_performance",
        schema=REPORT_SCHEMA,
        grain=("account_id", "campaign_id", "ad_group_id", "ad_id", "report_date", "report_hour"),
        spend_column="cost_micros",
        spend_divisor=1_000_000,
    )
    entities = (CAMPAIGNS, AD_GROUPS)
    credential_keys = (
        "developer_token", "client_id", "client_secret", "refresh_token", "customer_ids",
    )  # fmt: skip
    optional_credential_keys = ("login_customer_id",)
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    _token: str | None = None

    # -- auth -------------------------------------------------------------------------------
    def _token_url(self) -> str:
        return S.OAUTH_TOKEN_URL if self.base_url == self.default_host else f"{self.base_url}/token"

    def _fetch_token(self) -> str:
        session = self.session(refreshable=False)
        data = {
            "grant_type": "refresh_token",
            "client_id": self.credential("client_id"),
            "client_secret": self.credential("client_secret"),
            "refresh_token": self.credential("refresh_token"),
        }
        try:
            resp = session.post(self._token_url(), data=data)
        except AuthenticationError:
            raise AuthenticationError(
                "OAuth token refresh refused: check SOURCES__GOOGLE_ADS__CLIENT_ID / _CLIENT_SECRET / _REFRESH_TOKEN",
                platform=self.name,
            ) from None
        token = cached_json(resp).get("access_token")
        if not token:
            raise AuthenticationError("OAuth token response had no access_token", platform=self.name)
        return str(token)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "developer-token": self.credential("developer_token"),
        }
        login = self.optional_credential("login_customer_id")
        if login:
            headers["login-customer-id"] = login
        return headers

    def auth_headers(self) -> dict[str, str]:
        """Bearer token (fetched once per run from the refresh token) plus developer token."""
        if self._token is None:
            self._token = self._fetch_token()
        return self._headers()

    def refresh_auth(self) -> dict[str, str]:
        """A new access token after a 401 UNAUTHENTICATED."""
        self._token = self._fetch_token()
        return self._headers()

    # -- errors -----------------------------------------------------------------------------
    def classify(self, response: requests.Response) -> Verdict:
        """429 with ``retryDelay`` waits that long; 429 RESOURCE_EXHAUSTED without one is the daily
        quota (fatal); 400 names the GAQL error."""
        status = response.status_code
        if status == 429:
            try:
                body = cached_json(response)
            except ValueError:
                body = None
            delay = retry_delay(body)
            if delay is None and _is_resource_exhausted(body):
                return Verdict.fatal(
                    "daily API quota exhausted (HTTP 429 RESOURCE_EXHAUSTED without retryDelay); "
                    "retry tomorrow after the quota resets (midnight Pacific)"
                )
            return Verdict.retry("HTTP 429 RESOURCE_EXHAUSTED", delay, rate_limited=True)
        if status == 400:
            return Verdict.fatal(f"request refused (HTTP 400): {body_excerpt(response)}")
        if status == 403:
            return Verdict.fatal(
                f"permission denied (HTTP 403): check SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN and customer ids: "
                f"{body_excerpt(response)}"
            )
        return default_classifier(response)

    # -- data -------------------------------------------------------------------------------
    def _search(self, customer_id: str, query: str, decoder: Decoder | None = None) -> Iterator[list[Any]]:
        path = f"/{S.API_VERSION}/customers/{customer_id}/googleAds:search"
        paginator = JSONResponseCursorPaginator(cursor_path="nextPageToken", cursor_body_path="pageToken")
        yield from self.paginate(
            customer_id, path, method="POST", json={"query": query}, paginator=paginator, data_selector="results",
            decoder=decoder,
        )  # fmt: skip

    def list_accounts(self) -> list[Account]:
        """Each customer id in SOURCES__GOOGLE_ADS__CUSTOMER_IDS with its currency and time zone."""
        accounts = []
        for cid in self.id_list("customer_ids"):
            rows = [r for page in self._search(cid, S.CUSTOMER_QUERY) for r in page]
            cust = rows[0].get("customer", {}) if rows else {}
            accounts.append(Account(cid, cust.get("timeZone", "UTC"), cust.get("currencyCode")))
        return accounts

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad x hour rows of one customer and window, a table per page (decoded column-wise)."""
        query = S.REPORT_QUERY.format(first=window.first.isoformat(), last=window.last.isoformat())
        schema = self.report.schema
        for page in self._search(account.account_id, query, decoder=decode_search_page):
            # the decoder hands dlt's paginator one Arrow array per page instead of a list of dicts
            results: pa.StructArray = page[0] if page else pa.array([], _RESULT)
            n = len(results)
            cols = results_columns(results, schema)
            cols["account_id"] = pa.repeat(pa.scalar(account.account_id, pa.string()), n)
            cols["currency"] = pa.repeat(pa.scalar(account.currency, pa.string()), n)
            cols["time_zone"] = pa.repeat(pa.scalar(account.time_zone, pa.string()), n)
            yield self.page_table(cols)

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Campaigns and ad groups of every customer (current state; history kept by scd2)."""
        campaigns: list[dict[str, Any]] = []
        groups: list[dict[str, Any]] = []
        for acc in accounts:
            base = {"account_id": acc.account_id, "currency": acc.currency, "time_zone": acc.time_zone}
            for page in self._search(acc.account_id, S.CAMPAIGN_QUERY):
                for r in page:
                    c = r.get("campaign", {})
                    campaigns.append(base | {
                        "campaign_id": str(c.get("id")), "name": c.get("name"), "status": c.get("status"),
                        "objective": c.get("advertisingChannelType"),
                    })  # fmt: skip
            for page in self._search(acc.account_id, S.AD_GROUP_QUERY):
                for r in page:
                    g = r.get("adGroup", {})
                    groups.append(base | {
                        "ad_group_id": str(g.get("id")), "name": g.get("name"), "status": g.get("status"),
                        "campaign_id": str(g.get("campaign", "")).rsplit("/", 1)[-1] or None,
                    })  # fmt: skip
        return {"campaigns": campaigns, "ad_groups": groups}


load_google_ads = loader(GoogleAdsConnector)
