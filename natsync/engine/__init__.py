"""The engine: the parts that keep one client's connection (see docs/architecture.md)."""
