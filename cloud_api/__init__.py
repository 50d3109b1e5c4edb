"""Steward's central API: ingest from the edges, stores, queries, operations endpoints."""
