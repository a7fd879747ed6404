"""Meta Ads connector: insights through async report runs, entity edges, Meta's error signals.

Large insight reports are run asynchronously (POST ``insights`` -> report run id, poll
``async_status`` until ``Job Completed``, then read the run's ``insights`` pages), which is
what Meta recommends for ad-level hourly data. Throttling arrives as HTTP 400/403 (or inside
a 200) with codes 4/17/613/80000+; the wait is in ``X-Business-Use-Case-Usage``
(``estimated_time_to_regain_access``, minutes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

from connector_sdk import AD_GROUPS, ADS, CAMPAIGNS, Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connector_sdk.exceptions import RetriesExhaustedError
from connector_sdk.http import Verdict, body_excerpt, cached_json, default_classifier
from connectors.meta_ads import settings as S

SPEND = pa.decimal128(18, 6)
REPORT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("campaign_id", pa.string()),
        ("adset_id", pa.string()),
        ("ad_id", pa.string()),
        ("report_date", pa.date32()),
        ("report_hour", pa.int8()),
        ("currency", pa.string()),
        ("time_zone", pa.string()),
        ("impressions", pa.int64()),
        ("clicks", pa.int64()),
        ("spend", SPEND),
        ("conversions", pa.float64()),
    ]
)


def regain_seconds(response: requests.Response) -> float | None:
    """Seconds until access returns, from ``X-Business-Use-Case-Usage`` (minutes per account)."""
    raw = response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = max(
            float(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return minutes * 60.0


def poll_delay(poll: int, base_delay: float) -> float:
    """Seconds before the next ``async_status`` poll: short at first, then every ``2 * base_delay``.

    Most hourly report runs complete within a second; a fixed 2 s spacing made every run wait
    2 s after its first poll. The spacing follows the retry policy's base delay (tests run it
    at ~0 s); polls count towards the account's call quota, so they never come faster than
    ``base_delay / 4``.
    """
    return float(min(2 * base_delay, base_delay / 4 * 2**poll))


def conversions(actions: list[dict[str, Any]] | None) -> float:
    """The platform's own conversions: the sum of the counted action types."""
    if not actions:
        return 0.0
    return sum(float(a.get("value", 0)) for a in actions if a.get("action_type") in S.CONVERSION_ACTION_TYPES)


@register
class MetaAdsConnector(Connector):
    """Meta insights (ad x hour, account time zone), campaigns, ad sets and ads."""

    name = "meta_ads"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="ad_performance",
        schema=REPORT_SCHEMA,
        grain=("account_id", "campaign_id", "adset_id", "ad_id", "report_date", "report_hour"),
        spend_column="spend",
    )
    entities = (CAMPAIGNS, AD_GROUPS, ADS)
    credential_keys = ("access_token", "account_ids")
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    def auth_headers(self) -> dict[str, str]:
        """The long-lived token as a Bearer header (kept out of URLs and logs)."""
        return {"Authorization": f"Bearer {self.credential('access_token')}"}

    def classify(self, response: requests.Response) -> Verdict:
        """Throttling codes (in 4xx or in a 200) retry after the usage header's wait; bad tokens are fatal."""
        status = response.status_code
        if status < 500:
            try:
                body = cached_json(response)
            except ValueError:
                body = None
            err = body.get("error") if isinstance(body, dict) else None
            if isinstance(err, dict):
                code = int(err.get("code", 0) or 0)
                if code in S.THROTTLE_CODES:
                    return Verdict.retry(f"throttled (code {code})", regain_seconds(response), rate_limited=True)
                if err.get("is_transient") or code in (1, 2):
                    return Verdict.retry(f"transient error (code {code})")
                if code in S.INVALID_TOKEN_CODES:
                    return Verdict.fatal(
                        f"access token refused (code {code}): check SOURCES__META_ADS__ACCESS_TOKEN"
                    )
                return Verdict.fatal(f"request refused (HTTP {status}, code {code}): {err.get('message', '')}")
            if status >= 400:
                return Verdict.fatal(f"request refused (HTTP {status}): {body_excerpt(response)}")
            return Verdict.ok()
        return default_classifier(response)

    def _path(self, tail: str) -> str:
        return f"/{S.API_VERSION}/{tail}"

    def list_accounts(self) -> list[Account]:
        """Each ad account with its currency and time zone (the account node)."""
        out = []
        for acc in self.id_list("account_ids"):
            node = self.get_json(acc, self._path(f"act_{acc}"), params={"fields": "account_id,currency,timezone_name"})
            out.append(Account(acc, node.get("timezone_name") or "UTC", node.get("currency")))
        return out

    def _report_run(self, account: Account, window: DateWindow) -> str:
        params = {
            "level": "ad",
            "fields": S.INSIGHT_FIELDS,
            "time_range": json.dumps({"since": window.first.isoformat(), "until": window.last.isoformat()}),
            "time_increment": "1",
            "breakdowns": S.HOURLY_BREAKDOWN,
            "is_async": "true",
        }
        body = self.get_json(account.account_id, self._path(f"act_{account.account_id}/insights"),
                             method="POST", data=params)  # fmt: skip
        return str(body["report_run_id"])

    def _wait(self, account: Account, run_id: str) -> bool:
        """Poll the report run; True when completed, False when Meta failed or skipped it."""
        for poll in range(S.MAX_POLLS):
            status = self.get_json(account.account_id, self._path(run_id))
            state = status.get("async_status")
            if state == "Job Completed":
                return True
            if state in ("Job Failed", "Job Skipped"):
                return False
            time.sleep(poll_delay(poll, self.retry.base_delay))
        return False

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Run an async insights report for the window and read its pages."""
        for _attempt in range(3):
            run_id = self._report_run(account, window)
            if self._wait(account, run_id):
                break
        else:
            raise RetriesExhaustedError(f"report run for act_{account.account_id} kept failing", platform=self.name)
        pages = self.paginate(
            account.account_id,
            self._path(f"{run_id}/insights"),
            params={"limit": self.page_size_used},
            paginator=JSONLinkPaginator(next_url_path="paging.next"),
            data_selector="data",
        )
        for page in pages:
            n = len(page)
            spend = pc.cast(pa.array([r.get("spend") or "0" for r in page], pa.string()), SPEND)
            yield self.page_table(
                {
                    "account_id": [account.account_id] * n,
                    "campaign_id": [str(r["campaign_id"]) for r in page],
                    "adset_id": [str(r["adset_id"]) for r in page],
                    "ad_id": [str(r["ad_id"]) for r in page],
                    "report_date": [date.fromisoformat(r["date_start"]) for r in page],
                    "report_hour": [int(r[S.HOURLY_BREAKDOWN][:2]) for r in page],
                    "currency": [r.get("account_currency") or account.currency for r in page],
                    "time_zone": [account.time_zone] * n,
                    "impressions": [int(r.get("impressions") or 0) for r in page],
                    "clicks": [int(r.get("clicks") or 0) for r in page],
                    "spend": spend,
                    "conversions": [conversions(r.get("actions")) for r in page],
                }
            )

    def _edge(self, account: Account, edge: str, fields: str) -> list[dict[str, Any]]:
        pages = self.paginate(
            account.account_id,
            self._path(f"act_{account.account_id}/{edge}"),
            params={"fields": fields, "limit": self.page_size_used},
            paginator=JSONLinkPaginator(next_url_path="paging.next"),
            data_selector="data",
        )
        return [r for page in pages for r in page]

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Campaigns, ad sets (as ad groups) and ads of every account."""
        out: dict[str, list[dict[str, Any]]] = {"campaigns": [], "ad_groups": [], "ads": []}
        for acc in accounts:
            base = {"account_id": acc.account_id, "currency": acc.currency, "time_zone": acc.time_zone}
            for r in self._edge(acc, "campaigns", "id,name,status,effective_status,objective"):
                out["campaigns"].append(base | {"campaign_id": str(r["id"]), "name": r.get("name"),
                                                "status": r.get("effective_status") or r.get("status"),
                                                "objective": r.get("objective")})  # fmt: skip
            for r in self._edge(acc, "adsets", "id,name,status,effective_status,campaign_id"):
                out["ad_groups"].append(base | {"ad_group_id": str(r["id"]), "campaign_id": str(r.get("campaign_id")),
                                                "name": r.get("name"),
                                                "status": r.get("effective_status") or r.get("status")})  # fmt: skip
            for r in self._edge(acc, "ads", "id,name,status,effective_status,campaign_id,adset_id"):
                out["ads"].append(base | {"ad_id": str(r["id"]), "ad_group_id": str(r.get("adset_id")),
                                          "campaign_id": str(r.get("campaign_id")), "name": r.get("name"),
                                          "status": r.get("effective_status") or r.get("status")})  # fmt: skip
        return out


load_meta_ads = loader(MetaAdsConnector)
