"""The deployment kit in ``deploy/`` and the image files, checked with the tools that exist for
them: a PromQL parser for the alert rules and the dashboard's queries, ``systemd-analyze``
for the unit, syncd's own loader for every configuration the kit ships, and YAML/JSON
parsers for the manifests (their shape as Kubernetes and compose read it).
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from syncd.assemble import load_config
from syncd.metrics import render

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "syncd-alerts.yaml"
DASHBOARD = DEPLOY / "grafana" / "syncd-dashboard.json"
UNIT = DEPLOY / "systemd" / "syncd.service"
KUBERNETES = DEPLOY / "kubernetes" / "syncd.yaml"
COMPOSE = DEPLOY / "compose" / "compose.yaml"

DEFINED_ON_OTHER_BRANCHES = frozenset({
})
"""Metrics of the shared metric names that work in progress elsewhere adds to syncd.metrics.
Once one is defined here, ``test_metrics_defined_elsewhere_are_not_listed_once_defined``
asks for its removal, so this list only shrinks and the kit is checked against the real
registry."""

PROMETHEUS_OWN = frozenset({"up"})


def defined_metrics() -> set[str]:
    """The sample names syncd's metrics expose (``_total``, ``_bucket`` ... included)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    names: set[str] = set()
    render()  # as a scrape does: every declared metric is registered by then
    for family in REGISTRY.collect():
        if family.name.startswith("syncd_"):
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def selectors(expr: str) -> list[str]:
    """The metric names an expression reads; ValueError when it is not valid PromQL."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def unknown_metrics(names: list[str]) -> set[str]:
    return set(names) - defined_metrics() - DEFINED_ON_OTHER_BRANCHES - PROMETHEUS_OWN


def test_metrics_defined_elsewhere_are_not_listed_once_defined():
    assert not DEFINED_ON_OTHER_BRANCHES & defined_metrics()


def test_the_checker_refuses_what_it_is_here_for():
    assert unknown_metrics(selectors('rate(syncd_cycle_total{outcome="failed"}[5m])')) == {
        "syncd_cycle_total"
    }
    with pytest.raises(ValueError):
        selectors("sum by (connector) (rate(syncd_operations_total[5m])")


# --- Prometheus alert rules -------------------------------------------------------------------


def alert_rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules), "alert names repeat"
    return {rule["alert"]: rule for rule in rules}


def test_the_alert_rules_cover_what_an_operator_must_hear_of():
    rules = alert_rules()
    wanted = {
        "SyncdNoRecentSuccess": "syncd_last_success_timestamp_seconds",
    }
    for alert, metric in wanted.items():
        assert metric in selectors(rules[alert]["expr"]), alert


def test_every_alert_rule_parses_and_reads_only_syncd_metrics():
    for name, rule in alert_rules().items():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        names = selectors(rule["expr"])
        assert names and not unknown_metrics(names), (name, names)
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        for text in annotations.values():  # Go templates: every {{ opened is closed
            assert text.count("{{") == text.count("}}"), (name, text)


# --- Grafana dashboard ------------------------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$connector": ".*"}


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [
        (panel["title"], target["expr"])
        for panel in panels
        for target in panel.get("targets", [])
    ]


def as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace("$labels", ""), f"unknown dashboard variable in {expr}"
    return expr


def test_the_dashboard_is_importable_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_every_dashboard_query_parses_and_reads_known_metrics():
    read: set[str] = set()
    for title, expr in dashboard_queries():
        names = selectors(as_promql(expr))
        assert not unknown_metrics(names), (title, names)
        read.update(names)
    shared = {
        "syncd_vendor_api_calls_total", "syncd_rate_limit_wait_seconds_total",
        "syncd_vendor_rate_limited_total", "syncd_operations_total",
    }
    assert shared <= read, shared - read


# --- systemd ----------------------------------------------------------------------------------


def test_the_systemd_unit_runs_the_daemon_and_stops_it_gently():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["run"]
    assert service["ExecStart"].split()[0].endswith("/syncd")
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 120  # a stop waits up to 120 s for cycles
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    assert service["User"] == "syncd" and service["StateDirectory"] == "syncd"
    assert "SYNCD_CONFIG=" in service["Environment"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"

    if shutil.which("systemd-analyze"):  # where systemd is, it judges the unit too
        assert _systemd_analyze_verify(UNIT.read_text()) == []
        misspelt = UNIT.read_text().replace("NoNewPrivileges=", "NoNewPrivilegs=")
        assert "Unknown key" in " ".join(_systemd_analyze_verify(misspelt))


def _systemd_analyze_verify(text: str) -> list[str]:
    """What ``systemd-analyze verify`` says about the unit ``text``, line by line.

    It insists that ExecStart's program exists, so the copy it reads runs this test's syncd.
    """
    installed = Path(sys.executable).with_name("syncd")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "syncd.service"
        copy.write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={installed}", text, flags=re.M))
        done = subprocess.run(
            ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in (done.stdout + done.stderr).splitlines() if "syncd.service" in line]


# --- Kubernetes -------------------------------------------------------------------------------


def kubernetes_objects() -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d]
    for document in documents:
        assert document["apiVersion"] and document["metadata"]["name"], document
    return {d["kind"]: d for d in documents}


def test_the_kubernetes_manifest_probes_liveness_and_readiness_on_the_configured_port(tmp_path):
    objects = kubernetes_objects()
    assert set(objects) == {"ConfigMap", "Secret", "Deployment", "Service"}
    deployment = objects["Deployment"]["spec"]
    pod = deployment["template"]["spec"]
    assert deployment["selector"]["matchLabels"].items() <= (
        deployment["template"]["metadata"]["labels"].items()
    )
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["terminationGracePeriodSeconds"] > 120

    config = _kubernetes_config(objects, container, tmp_path)
    assert ports["http"] == config.server.port and config.server.host == "0.0.0.0"
    assert config.state.url.get_secret_value().startswith("postgresql+psycopg://")
    service = objects["Service"]["spec"]
    assert service["ports"][0]["targetPort"] == "http"


def _kubernetes_config(objects: dict[str, Any], container: dict[str, Any], tmp_path: Path):
    """The ConfigMap's syncd.yaml, loaded by syncd as the pod would: mounted at SYNCD_CONFIG,
    with the Secret's keys in its environment."""
    env = {item["name"]: item["value"] for item in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in objects["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    config_path = Path(env["SYNCD_CONFIG"])
    (name,) = [n for n, path in mounts.items() if Path(path) == config_path.parent]
    config_map = objects["ConfigMap"]
    assert volumes[name]["configMap"]["name"] == config_map["metadata"]["name"]
    secret = objects["Secret"]
    (source,) = container["envFrom"]
    assert source["secretRef"]["name"] == secret["metadata"]["name"]
    copy = tmp_path / config_path.name
    copy.write_text(config_map["data"][config_path.name])
    return load_config(copy, dict(secret["stringData"]))


# --- compose, Dockerfile, .dockerignore ------------------------------------------------------


def test_the_compose_file_starts_syncd_once_postgresql_is_healthy():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"syncd", "postgres"}
    postgres, daemon = services["postgres"], services["syncd"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert daemon["depends_on"]["postgres"]["condition"] == "service_healthy"

    env = {k: _compose_value(v) for k, v in daemon["environment"].items()}
    mounted = {
        target: COMPOSE.parent / source
        for source, target, *_mode in (volume.split(":") for volume in daemon["volumes"])
        if source.startswith("./")
    }
    config = load_config(mounted[env["SYNCD_CONFIG"]], env)
    url = config.state.url.get_secret_value()
    assert "@postgres:5432/" in url and "compose-password" in url
    assert postgres["environment"]["POSTGRES_USER"] in url
    published = {port.rsplit(":", 1)[1] for port in daemon["ports"]}
    assert str(config.server.port) in published and config.server.host == "0.0.0.0"


def _compose_value(value: str) -> str:
    """A compose environment value with its ``${VAR...}`` filled as a .env file would."""
    return re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: f"compose-{m.group(1).split('_')[-1]}"
                  .lower(), value)


def test_the_image_health_check_asks_the_configured_address():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instruction = re.search(r"^HEALTHCHECK (.*?)(?<!\\)$", dockerfile, re.M | re.S)
    assert instruction is not None
    command = instruction.group(1).split("CMD", 1)[1].strip()
    assert json.loads(command) == ["syncd", "health"]
    assert "9465" not in instruction.group(0)  # the port comes from server.listen


def test_dockerignore_keeps_secrets_and_clutter_out_but_not_what_the_image_copies():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for kept_out in (".git", ".venv", "tests", "*.db", "syncd.yaml", ".env*"):
        assert kept_out in patterns
    copied = re.findall(r"^COPY (.+?) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for source in " ".join(copied).split():
        assert not any(Path(source).match(p) for p in patterns), source
