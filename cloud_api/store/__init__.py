"""Stores behind one interface (base.Store): SQLite by default, an optional InfluxDB sink."""
