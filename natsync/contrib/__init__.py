"""Optional integrations (Django, Flask, pre-fork servers, worker processes).

Nothing here is imported by `natsync` itself, and no framework is a runtime dependency:
each submodule imports its framework only when it is imported.
"""
