"""The events' Prometheus series (docs/operations.md, "Readiness, metrics and logs"): the
outbox backlog, how long each channel takes to deliver, its failures, and the lag from a change
to its event's delivery. Labels hold channel names, never an address or a value."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# From a change to its delivery: seconds when all is well, hours while a receiver is down.
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


class EventMetrics:
    """The series, in the HTTP app's registry so /metrics shows them."""

    def __init__(self, registry: CollectorRegistry, backlog: Callable[[], int]) -> None:
        self.backlog = Gauge(
            "baoling_events_backlog",
            "Events waiting for delivery (pending in the outbox).",
            registry=registry,
        )
        self.backlog.set_function(backlog)
        self.seconds = Histogram(
            "baoling_event_delivery_seconds",
            "Time one delivery attempt to one recipient took, by channel.",
            ["channel"],
            registry=registry,
        )
        self.failures = Counter(
            "baoling_event_delivery_failures",
            "Failed delivery attempts, by channel.",
            ["channel"],
            registry=registry,
        )
        self.lag = Histogram(
            "baoling_event_delivery_lag_seconds",
            "From an event's change to its delivery to every recipient.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
