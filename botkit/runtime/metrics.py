"""Prometheus metrics of the bot runtime, served at `GET /metrics` by `botkit serve`.

Labels are hook names, plugin names and end reasons only: never a contact id, a
participant id or a token, so cardinality stays bounded and secrets stay out.
"""

from __future__ import annotations

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
LOOP_LAG = Gauge("botkit_loop_lag_seconds", "How late the event loop is now (0 while it runs freely).")
LOOP_STALLS = Counter(
    "botkit_loop_stalls_total", "Times the event loop did not run for runtime.max_loop_lag_seconds or longer."
)
