"""Pure rule cores: conditions, door and patrol rules, the alarm lifecycle (no I/O)."""
