"""Red reproductions of client bugs found through FaultProxy, kept out of the suite.

The files are named bug_*.py so that pytest does not collect them; run one by naming
it: `pytest tests/pending_engine_bugs/bug_request_timeout_full_buffer.py`. Once its bug
is fixed, a reproduction moves into the suite.
"""
