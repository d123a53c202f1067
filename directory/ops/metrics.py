"""Prometheus metrics, in a registry of the app's own (tests create many apps).

Request and search latencies are observed as requests finish; the referral, outbox and
offer gauges, and the histograms of referrals' times to a first offer, a first answer, an
acceptance and admission, are read from the database when Prometheus scrapes, so they are never
stale and count what every process did (routing makes the first offers in the Celery worker,
which serves no /metrics).

Under gunicorn each worker is a process of its own. With PROMETHEUS_MULTIPROC_DIR set (the
project's gunicorn.conf.py sets it), every worker writes its histograms to files there and
/metrics, whichever worker answers, sums all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, multiprocess
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from directory.extensions import db
from directory.models import Offer, OfferStatus, OutboxMessage, Referral, ReferralStatus
from directory.models.base import utcnow
from directory.referrals import outcomes

#: The search endpoints (find_centers_near); their request time is the search latency.
SEARCH_ENDPOINTS = frozenset({"public.search", "api.search_centers"})
#: Any other method (a client can send any token) is counted as "other", to bound the labels.
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
EXPIRING_WITHIN = timedelta(hours=1)
#: Bounds of the histograms of referrals' times: a minute to a week in seconds; admission in days
#: after the day of the referral.
REFERRAL_TIME_BUCKETS: dict[str, tuple[float, ...]] = {
    **dict.fromkeys(
        outcomes.SECONDS_MEASURES, (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800)
    ),
    "admission": (0, 1, 2, 3, 5, 7, 14, 30),
}
REFERRAL_TIME_HELP = {
    "first_offer": "Time from a referral's submission to its first offer.",
    "first_answer": "Time from a referral's submission to a center's first answer (accept or decline).",
    "acceptance": "Time from a referral's submission to a detox center's acceptance.",
}


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    request_seconds: Histogram
    search_seconds: Histogram
    #: Set in multiprocess mode: the folder where every process writes its metrics.
    multiprocess_dir: str | None = None

    def scrape(self) -> CollectorRegistry:
        """What /metrics reports: this process's registry, or in multiprocess mode every
        worker's histograms summed, with the database gauges."""
        if not self.multiprocess_dir:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        registry.register(DatabaseCollector(lambda: db.engine))
        return registry


def init_metrics(app: Flask) -> Metrics:
    """Create the app's registry and metrics, and time every request."""
    registry = CollectorRegistry()
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    metrics = Metrics(
        registry=registry,
        request_seconds=Histogram(
            "directory_http_request_duration_seconds",
            "Time to answer a request, by Flask endpoint (never the path), method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        ),
        search_seconds=Histogram(
            "directory_search_duration_seconds",
            "Time to answer a search (rendering included), by endpoint.",
            ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        ),
        multiprocess_dir=shared,
    )
    if not shared:  # a worker's own memory and CPU mean little when several share the scrape
        ProcessCollector(registry=registry)  # memory, CPU, open files (Linux)
    registry.register(DatabaseCollector(lambda: db.engine))
    app.extensions["metrics"] = metrics
    app.after_request(_observe_request)
    return metrics


def _observe_request(response: Response) -> Response:
    started = g.get("request_started")  # set by directory.ops.logging before every request
    if started is None:
        return response
    metrics: Metrics = current_app.extensions["metrics"]
    elapsed = time.perf_counter() - started
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in METHODS else "other"
    metrics.request_seconds.labels(endpoint, method, str(response.status_code)).observe(elapsed)
    if endpoint in SEARCH_ENDPOINTS and response.status_code == 200:
        metrics.search_seconds.labels(endpoint).observe(elapsed)
    return response


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time (inside the /metrics request's app context)."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def describe(self) -> Iterator[Metric]:
        yield from self._families()
        yield from _referral_histograms(
            {m: outcomes.Histogram(bounds, [0] * len(bounds), 0, 0.0) for m, bounds in REFERRAL_TIME_BUCKETS.items()}
        )

    def collect(self) -> Iterator[Metric]:
        referrals, backlog, oldest, expiring = self._families()
        engine: Engine = self._engine()
        now = utcnow()
        with engine.connect() as connection:
            counts = dict(connection.execute(select(Referral.status, func.count()).group_by(Referral.status)).all())
            pending, oldest_at = connection.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.dispatched_at.is_(None))
            ).one()
            expiring_soon = connection.scalar(
                select(func.count())
                .select_from(Offer)
                .where(
                    Offer.status == OfferStatus.OFFERED,
                    Offer.expires_at > now,
                    Offer.expires_at <= now + EXPIRING_WITHIN,
                )
            )
            histograms = outcomes.duration_histograms(connection, REFERRAL_TIME_BUCKETS)
        known = [status.value for status in ReferralStatus]
        for status in [*known, *sorted(set(counts) - set(known))]:
            referrals.add_metric([status], counts.get(status, 0))
        backlog.add_metric([], pending)
        oldest.add_metric([], max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0)
        expiring.add_metric([], expiring_soon or 0)
        yield from (referrals, backlog, oldest, expiring)
        yield from _referral_histograms(histograms)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("directory_referrals", "Referrals by status.", labels=["status"]),
            GaugeMetricFamily("directory_outbox_backlog", "Outbox messages not yet sent to the broker."),
            GaugeMetricFamily(
                "directory_outbox_oldest_undispatched_age_seconds",
                "Age of the oldest outbox message not yet sent (0 when none is waiting).",
            ),
            GaugeMetricFamily(
                "directory_offers_expiring_within_hour", "Open offers whose answer is due within the next hour."
            ),
        )


def _referral_histograms(histograms: dict[str, outcomes.Histogram]) -> Iterator[HistogramMetricFamily]:
    """The histograms of referrals' times (`outcomes.duration_histograms`)."""
    for measure in outcomes.SECONDS_MEASURES:
        yield _histogram(f"directory_referral_time_to_{measure}_seconds", REFERRAL_TIME_HELP[measure],
                         histograms[measure])  # fmt: skip
    yield _histogram(
        "directory_referral_days_to_admission",
        "Days from the day of a referral's submission to the admission date the accepting detox center gave.",
        histograms["admission"],
    )


def _histogram(name: str, documentation: str, histogram: outcomes.Histogram) -> HistogramMetricFamily:
    buckets = [(str(float(bound)), count) for bound, count in zip(histogram.bounds, histogram.at_most, strict=True)]
    return HistogramMetricFamily(
        name, documentation, buckets=[*buckets, ("+Inf", histogram.count)], sum_value=histogram.total
    )
