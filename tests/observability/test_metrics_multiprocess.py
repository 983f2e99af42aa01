"""Multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR``, one scrape sums what every API
process and worker counted (each a separate Python process here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

COUNT = """
from stratabase.observability import metrics
for _ in range({n}):
    metrics.observe_request("/v1/posts/{{post_id}}", "GET", 200, 0.002)
metrics.job_finished("noop", "completed")
"""

SCRAPE = """
import sys
from stratabase.observability import metrics
sys.stdout.write(metrics.exposition().decode())
"""


def _python(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_scrape_sums_every_process(tmp_path: Path) -> None:
    _python(COUNT.format(n=3), tmp_path)  # an API process
    _python(COUNT.format(n=4), tmp_path)  # another one (a worker counts jobs the same way)
    text = _python(SCRAPE, tmp_path)  # any process answers the scrape
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    ok = (("method", "GET"), ("route", "/v1/posts/{post_id}"), ("status", "200"))
    assert samples[("stratabase_http_requests_total", ok)] == 7
    assert samples[("stratabase_http_request_duration_seconds_count", ok)] == 7
    jobs = (("outcome", "completed"), ("task", "noop"))
    assert samples[("stratabase_jobs_total", jobs)] == 2
