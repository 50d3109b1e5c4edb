"""The SQLite store behind whatever app.state.store is (itself, or an InfluxSink's primary).

Users, hazards and visitor passes live only in the SQLite file; the routers reach their
tables through this, so they work the same with or without the InfluxDB sink.
"""

from __future__ import annotations

from cloud_api.store.sqlite import SqliteStore


def sqlite_store(store: object) -> SqliteStore:
    primary = getattr(store, "primary", store)
    if not isinstance(primary, SqliteStore):
        raise TypeError(f"the API's store {store!r} has no SQLite store behind it")
    return primary
