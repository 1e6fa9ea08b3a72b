"""Red reproductions of client bugs found through FaultProxy, kept out of the suite.

The files are named bug_*.py so that pytest does not collect them; run one by naming
it: `pytest tests/pending_engine_bugs/bug_object_store_put_failure_on_slow_link.py`. Once
its bug is fixed, a reproduction moves into the suite (as test_faults_request_timeout.py
did).
"""
