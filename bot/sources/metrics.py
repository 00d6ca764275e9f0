"""Prometheus metrics per source, in the registry they are given (``newsbot serve --watch`` passes
the API's, so ``/metrics`` shows them beside the request metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SourceMetrics:
    """Polls, changes, failures and the lag from an item's publication to answerable, per source."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.polls = Counter(
            "newsbot_source_polls",
            "Polls of a source, by outcome (changed, unchanged, not_modified, failed, locked)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.changes = Counter(
            "newsbot_source_changes",
            "Articles a source added, updated or removed",
            ["source", "change"],
            registry=self.registry,
        )
        self.failures = Counter(
            "newsbot_source_failures", "Failed polls of a source", ["source"], registry=self.registry
        )
        self.consecutive_failures = Gauge(
            "newsbot_source_consecutive_failures",
            "Failed polls of a source since its last good one",
            ["source"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "newsbot_source_last_success_timestamp_seconds",
            "When a source was last polled without failure (epoch seconds)",
            ["source"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "newsbot_source_lag_seconds",
            "From an item's published time to answerable (its ingest committed)",
            ["source"],
            registry=self.registry,
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400),
        )
