"""Optional integrations (Django, Flask, pre-fork servers, worker processes, OpenTelemetry),
built on the Client's public API.

Nothing here is imported by `natsync` itself, and no framework is a runtime dependency:
each submodule imports its framework (or its extra) only when it is imported.
"""
