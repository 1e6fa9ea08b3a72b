"""Optional integrations built on the Client's public API (each needs its own extra)."""
