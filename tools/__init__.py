"""Developer tooling that is neither ML code (src/) nor the service (app/).

make's helpers (ci_local, config_doc, crd_schemas, fork_walkthrough, suite) and the
harness that tests, benchmarks and labs share, so nothing outside tests/ imports tests.
"""
