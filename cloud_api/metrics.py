"""The API's metrics, exposed by prometheus_client in the Prometheus text format (0.0.4).

Each app has its own CollectorRegistry (no process-wide state: create_app can run twice
in one process, as the tests do). It holds the counters the API updates as it works
(ApiMetrics) and a collector that reads the per-edge figures from the store at scrape
time, so that those survive restarts (EdgeCollector).

prometheus_client names a counter's samples `<name>_total` and adds a `<name>_created`
gauge (the counter's start time, Unix seconds) next to each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloud_api.store.base import Store

log = logging.getLogger("steward.api.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ApiMetrics:
    """The counters the API updates as it works, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "steward_ingest_requests_total",
            "ingest requests answered, by HTTP status",
            ["code"],
            registry=registry,
        )
        self.rejected = Counter(
            "steward_ingest_rejected_total",
            "ingest requests refused, by reason (nothing of them was stored)",
            ["reason"],
            registry=registry,
        )
        self.records = Counter(
            "steward_ingest_records_total",
            "records received, by lane and outcome (accepted: stored now; duplicate: already"
            " held, skipped)",
            ["lane", "outcome"],
            registry=registry,
        )
        self.points = Counter("steward_ingest_points_total", "readings stored", registry=registry)
        self.dropped_at_edge = Counter(
            "steward_ingest_dropped_at_edge_total",
            "seq numbers the edges skipped because they dropped those records",
            ["lane"],
            registry=registry,
        )
        self.busy_seconds = Counter(
            "steward_ingest_busy_seconds_total",
            "time the ingest worker spent decoding, validating and storing batches",
            registry=registry,
        )
        self.sink_written = Counter(
            "steward_influx_points_written_total",
            "readings written to the InfluxDB sink",
            registry=registry,
        )
        self.sink_errors = Counter(
            "steward_influx_write_errors_total",
            "failed write attempts to the InfluxDB sink",
            registry=registry,
        )
        self.sink_dropped = Counter(
            "steward_influx_points_dropped_total",
            "readings the InfluxDB sink gave up on (they remain in the primary store)",
            ["reason"],
            registry=registry,
        )
        self.sink_queue = Gauge(
            "steward_influx_queue_points",
            "readings waiting to be written to the InfluxDB sink",
            registry=registry,
        )

    def watch_store(self, store: Callable[[], Store | None]) -> None:
        """Expose the per-edge figures of the store that `store()` returns at scrape time."""
        self.registry.register(EdgeCollector(store))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _edge_families() -> dict[str, Metric]:
    return {
        "last_seen": GaugeMetricFamily(
            "steward_edge_last_seen_timestamp_seconds",
            "when the edge last sent a batch",
            labels=["edge", "site"],
        ),
        "revoked": GaugeMetricFamily(
            "steward_edge_revoked", "1 when the edge's token is revoked", labels=["edge"]
        ),
        "backlog": GaugeMetricFamily(
            "steward_edge_backlog_records",
            "records the edge reported still holding, per lane",
            labels=["edge", "lane"],
        ),
        "oldest": GaugeMetricFamily(
            "steward_edge_backlog_oldest_timestamp_seconds",
            "timestamp of the oldest record the edge reported holding",
            labels=["edge", "lane"],
        ),
        "reported_dropped": GaugeMetricFamily(
            "steward_edge_reported_dropped_records",
            "records the edge reported dropping (outbox full)",
            labels=["edge", "lane"],
        ),
        "acked": GaugeMetricFamily(
            "steward_edge_acked_seq", "highest contiguous seq stored", labels=["edge", "lane"]
        ),
        "dropped": CounterMetricFamily(
            "steward_edge_dropped_at_edge_total",
            "seq numbers skipped because the edge dropped them",
            labels=["edge", "lane"],
        ),
        "store_up": GaugeMetricFamily(
            "steward_store_up", "1 when the store answered this scrape's per-edge query"
        ),
    }


class EdgeCollector(Collector):
    """Per-edge gauges read from the store at scrape time."""

    def __init__(self, store: Callable[[], Store | None]) -> None:
        self._store = store

    def describe(self) -> Iterator[Metric]:
        # The names, without asking the store (the registry calls this when registering).
        yield from _edge_families().values()

    def collect(self) -> Iterator[Metric]:
        families = _edge_families()
        store = self._store()
        if store is None:  # before the app has started
            return
        try:
            edges = store.list_edges()
        except Exception as e:  # the other metrics must still answer
            log.error("metrics: cannot read the edges from the store: %s", e)
            families["store_up"].add_metric([], 0.0)
            yield families["store_up"]
            return
        families["store_up"].add_metric([], 1.0)
        for edge in edges:
            families["revoked"].add_metric([edge.name], 1.0 if edge.revoked else 0.0)
            if edge.last_seen is not None:
                families["last_seen"].add_metric([edge.name, edge.site], edge.last_seen)
            for lane, report in edge.backlog.items():
                labels = [edge.name, lane]
                families["backlog"].add_metric(labels, report.get("records", 0))
                families["reported_dropped"].add_metric(labels, report.get("dropped", 0))
                if report.get("oldest_ts") is not None:
                    families["oldest"].add_metric(labels, report["oldest_ts"])
            for lane, state in edge.lanes.items():
                families["acked"].add_metric([edge.name, lane], state.acked)
                families["dropped"].add_metric([edge.name, lane], state.dropped_at_edge)
        yield from families.values()
