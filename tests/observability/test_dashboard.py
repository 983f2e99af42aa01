"""The example Grafana dashboard only queries metrics the exposition has."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from stratabase.observability import metrics

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "stratabase-dashboard.json"


def test_dashboard_queries_known_metrics() -> None:
    figures = metrics.DatabaseFigures(
        jobs={("default", "queued"): 1}, oldest_queued={"default": 1.0},
        transfers={"posted": 1}, held=1, refusals={"SBIF0": 1},
    )  # fmt: skip
    metrics.observe_request("/x", "GET", 200, 0.001)
    metrics.job_finished("noop", "completed")
    exposed = {
        sample.name
        for family in text_string_to_metric_families(metrics.exposition(figures).decode())
        for sample in family.samples
    } | {
        f"{family.name}_total"  # counters with no samples yet still have a family
        for family in metrics.REGISTRY.collect()
        if family.type == "counter"
    }
    exposed |= {f"{f.name}_bucket" for f in metrics.REGISTRY.collect() if f.type == "histogram"}
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"stratabase_\w+", target["expr"])
    }
    assert queried and queried <= exposed, sorted(queried - exposed)
