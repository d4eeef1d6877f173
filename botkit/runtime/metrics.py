"""Prometheus metrics of the bot runtime, served at `GET /metrics` by `botkit serve`.

Labels are hook names, plugin names, end reasons, Connect operation names, intake routes and
outcomes from fixed sets only: never a contact id, a participant id or a token, so cardinality
stays bounded and secrets stay out.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram

SESSIONS = Gauge("botkit_sessions", "Sessions (contacts the bot is in) running now.")
SESSIONS_ENDED = Counter("botkit_sessions_ended_total", "Sessions that ended, by reason.", ["reason"])
DISPATCHED = Counter("botkit_hook_calls_total", "Hook dispatches (one per event and hook, all plugins).", ["hook"])
HANDLER_SECONDS = Histogram(
    "botkit_handler_seconds",
    "Time one hook implementation took.",
    ["hook"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
HANDLER_FAILURES = Counter(
    "botkit_handler_failures_total", "Hook implementations that raised, timed out or could not start.", ["hook", "plugin", "kind"]
)
CONNECTION_FAILURES = Counter("botkit_connection_failures_total", "Failed attempts to (re)connect a contact.")
SOCKETS_ENDED = Counter("botkit_sockets_ended_total", "Participant websockets that ended (drops, rotations, chat ends).")
EVENTS_REFUSED = Counter("botkit_events_refused_total", "Live items refused by a full session inbox (read back later).")
EVENTS_DROPPED_AFTER_END = Counter(
    "botkit_events_dropped_after_end_total",
    "Events queued or arriving once the chat was over for the bot (ended, 403, session closing): not dispatched.",
)
STREAMING_NOTIFICATIONS = Counter(
    "botkit_streaming_notifications_total",
    "Verified SNS notifications of chat items, by what became of them (queued, held, duplicate, ignored, busy;"
    " handed: stored for the worker that owns the contact, which counts it again as it queues it).",
    ["outcome"],
)
STREAMING_READS = Counter(
    "botkit_streaming_reads_total",
    "Transcript reads of contacts on message streaming (one per wake; notifications arriving during one coalesce).",
)
SNS_MESSAGES = Counter(
    "botkit_sns_messages_total",
    "Requests to the SNS route, by SNS message type and outcome (accepted, rejected, malformed, failed).",
    ["type", "outcome"],
)
LEASES_HELD = Gauge("botkit_leases_held", "Contacts this worker holds a lease on (owns) now.")
TAKEOVERS = Counter(
    "botkit_takeovers_total",
    "Contacts taken up from the store (a restart, an orphan of a dead or departed worker), by how it went.",
    ["outcome"],
)
FENCED = Counter(
    "botkit_fenced_total", "Sessions stopped because another worker took their contact (a save or renew refused)."
)
STORE_SECONDS = Histogram(
    "botkit_store_seconds",
    "Time one store call took, by operation.",
    ["operation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
STORE_FAILURES = Counter("botkit_store_failures_total", "Store calls that failed (unreachable, errors), by operation.", ["operation"])
LOOP_LAG = Gauge("botkit_loop_lag_seconds", "How late the event loop is now (0 while it runs freely).")
LOOP_STALLS = Counter(
    "botkit_loop_stalls_total", "Times the event loop did not run for runtime.max_loop_lag_seconds or longer."
)

# Connect API calls ----------------------------------------------------------------------------
# A logical call is what the bot asked for (one SendMessage); an attempt is one HTTP request of it.
# Both are counted: attempts show what Amazon Connect answered (throttling, 5xx, lost answers),
# calls show what the bot got in the end; attempts minus calls are the retries. A call's outcome
# is its last attempt's. Outcomes are botkit.connect.retry.OUTCOMES; services "participant", "connect".

CONNECT_ATTEMPTS = Counter(
    "botkit_connect_attempts_total",
    "HTTP requests to Amazon Connect (every attempt of every call), by service, operation and outcome.",
    ["service", "operation", "outcome"],
)
CONNECT_CALLS = Counter(
    "botkit_connect_calls_total",
    "Amazon Connect API calls as the bot made them (retries included in one), by service, operation and final outcome.",
    ["service", "operation", "outcome"],
)
CONNECT_CALL_SECONDS = Histogram(
    "botkit_connect_call_seconds",
    "Time one Amazon Connect API call took, its retries and pauses included.",
    ["service", "operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class ConnectCallMetrics:
    """The CallObserver bot.py gives both Connect clients, so the wire layer never imports Prometheus."""

    def attempted(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        CONNECT_ATTEMPTS.labels(service, operation, outcome).inc()

    def completed(self, service: str, operation: str, outcome: str, seconds: float, attempts: int) -> None:
        CONNECT_CALLS.labels(service, operation, outcome).inc()
        CONNECT_CALL_SECONDS.labels(service, operation).observe(seconds)


CONNECT_OBSERVER = ConnectCallMetrics()


# The intake -----------------------------------------------------------------------------------


class IntakeOutcome(StrEnum):
    """What an intake answer meant, read from its HTTP status: a short, bounded label."""

    ACCEPTED = "accepted"  # 2xx: joined, handed in, or (SNS) taken
    BAD_REQUEST = "bad_request"  # 400 and any 4xx not named below
    UNAUTHORIZED = "unauthorized"  # 401, 403: signature missing, wrong or stale
    CONFLICT = "conflict"  # 409: not a custom bot's token, or the chat is over
    TOO_LARGE = "too_large"  # 413
    UNAVAILABLE = "unavailable"  # 503: not ready, stopping, or at max_sessions
    UPSTREAM_ERROR = "upstream_error"  # 502: Amazon Connect refused or could not be reached
    UPSTREAM_TIMEOUT = "upstream_timeout"  # 504: Amazon Connect did not answer within the intake's deadline
    INTERNAL_ERROR = "internal_error"  # 500 and any 5xx not named above
    OTHER = "other"  # 1xx, 3xx


_INTAKE_OUTCOME_BY_STATUS = {
    401: IntakeOutcome.UNAUTHORIZED,
    403: IntakeOutcome.UNAUTHORIZED,
    409: IntakeOutcome.CONFLICT,
    413: IntakeOutcome.TOO_LARGE,
    502: IntakeOutcome.UPSTREAM_ERROR,
    503: IntakeOutcome.UNAVAILABLE,
    504: IntakeOutcome.UPSTREAM_TIMEOUT,
}

INTAKE_REQUESTS = Counter(
    "botkit_intake_requests_total",
    "Answers of the intake routes, by route (its registered path) and outcome (from the HTTP status).",
    ["route", "outcome"],
)


def intake_outcome(status: int) -> IntakeOutcome:
    if status in _INTAKE_OUTCOME_BY_STATUS:
        return _INTAKE_OUTCOME_BY_STATUS[status]
    if 200 <= status < 300:
        return IntakeOutcome.ACCEPTED
    if 400 <= status < 500:
        return IntakeOutcome.BAD_REQUEST
    if status >= 500:
        return IntakeOutcome.INTERNAL_ERROR
    return IntakeOutcome.OTHER


def count_intake(route: str, status: int) -> None:
    """Count one intake answer. `route` is the route's registered path (a constant), never the request's own path."""
    INTAKE_REQUESTS.labels(route, intake_outcome(status)).inc()
