"""The metrics' labels stay bounded whatever clients and tenants do."""

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tenantapp.metrics.instruments import OTHER, Instruments


def label_values(instruments: Instruments, label: str) -> set[str]:
    text = generate_latest(instruments.registry).decode()
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


def test_tenants_that_leave_the_top_lose_their_series():
    instruments = Instruments(top=2, caches=dict, recount=10)
    for turn in range(24):  # each tenant in turn becomes the busiest
        for _ in range(10 * (turn + 1)):
            instruments.observe(f"t{turn}", "GET", 200, 0.01, 0.001)
            instruments.observe_job("task", f"t{turn}", "done", 0.1)
        instruments.observe(f"t{turn}", "GET", 500, 0.01, 0.001)
    tenants = label_values(instruments, "tenant")
    assert tenants - {OTHER, ""} <= {"t23", "t22"}  # the two busiest; the 22 others left


def test_methods_a_client_makes_up_count_as_other():
    instruments = Instruments(top=2, caches=dict)
    for method in ("GET", "XQWERTYU", "BREW", "get"):
        instruments.observe("t", method, 405, 0.01, 0.0)
    assert label_values(instruments, "method") == {"GET", OTHER}
