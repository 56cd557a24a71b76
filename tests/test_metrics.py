"""The metrics registry: registered when first needed, yet whole from the first scrape.

Each check runs in a fresh interpreter: the test process itself has long loaded
prometheus-client and registered the metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys

import syncd


def _fresh(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_first_scrape_lists_every_metric_with_the_version():
    found = _fresh(
        "import json\n"
        "from syncd import metrics\n"
        "body = metrics.render()[0].decode()\n"
        "print(json.dumps({'body': body, 'declared': [m.name for m in metrics._DECLARED]}))\n"
    )
    helped = {line.split()[2] for line in found["body"].splitlines() if line.startswith("# HELP")}
    for name in found["declared"]:
        assert name in helped or f"{name}_total" in helped or f"{name}_created" in helped, name
    assert f'syncd_build_info{{version="{syncd.__version__}"}} 1.0' in found["body"]
    assert "process_cpu_seconds_total" in found["body"]  # the default registry's collectors


def test_a_process_not_recording_loads_no_prometheus_and_keeps_no_value():
    found = _fresh(
        "import json, sys\n"
        "from syncd import metrics\n"
        "metrics.set_recording(False)\n"
        "metrics.record_cycle('lms', 'push', 'success', 1.5, None)\n"
        "metrics.OPERATIONS.labels('lms', 'create', 'done').inc()\n"
        "loaded = 'prometheus_client' in sys.modules\n"
        "metrics.set_recording(True)\n"
        "metrics.record_cycle('lms', 'pull', 'success', 2.0, None)\n"
        "body = metrics.render()[0].decode()\n"
        "print(json.dumps({'loaded': loaded, 'body': body}))\n"
    )
    assert found["loaded"] is False
    lines = found["body"].splitlines()
    assert 'syncd_cycles_total{connector="lms",direction="pull",outcome="success"} 1.0' in lines
    assert not any('direction="push"' in line for line in lines)  # recorded while off
    assert not any(line.startswith("syncd_operations_total{") for line in lines)
