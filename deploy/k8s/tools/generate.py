#!/usr/bin/env python3
"""Writes the Kubernetes objects that copy a file kept elsewhere in deploy/:

  base/monitoring/prometheus-rule.yaml   PrometheusRule `rcr-alerts`, whose spec
                                         is deploy/prometheus/alerts.yml (the
                                         rules promtool checks and tests)
  base/monitoring/grafana-dashboard.yaml ConfigMap `rcr-grafana-dashboard`
                                         holding deploy/grafana/dashboard.json
                                         (label grafana_dashboard: Grafana's
                                         dashboard sidecar loads it)

Text is copied, not re-serialised: the rules keep their comments, and the
dashboard is byte for byte the file Grafana provisions in the compose stack.
Standard library only.

usage: generate.py           rewrite the files
       generate.py --check   exit 1, naming them, when a file differs from what
                             its source generates (deploy/check.sh runs this)
"""
import argparse
import json
import os
import sys

DEPLOY = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ALERTS = "prometheus/alerts.yml"
DASHBOARD = "grafana/dashboard.json"
RULE_OUT = "k8s/base/monitoring/prometheus-rule.yaml"
DASHBOARD_OUT = "k8s/base/monitoring/grafana-dashboard.yaml"


def header(source):
    return (f"# GENERATED from deploy/{source} by deploy/k8s/tools/generate.py:\n"
            f"# edit that file, then run the script (deploy/check.sh fails on drift).\n")


def indent(text, spaces):
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def prometheus_rule(alerts):
    # The rules file is `groups:` after a comment block; a PrometheusRule's
    # spec is the same document. The comment block stays in the source.
    lines = alerts.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "".join(lines[start:])
    return (header(ALERTS)
            + "# The same rules as the compose stack's Prometheus, for the Prometheus\n"
            + "# Operator of the region (its ruleSelector must match this object's labels).\n"
            + "apiVersion: monitoring.coreos.com/v1\n"
            + "kind: PrometheusRule\n"
            + "metadata:\n"
            + "  name: rcr-alerts\n"
            + "spec:\n"
            + indent(body, 2))


def dashboard_configmap(dashboard):
    uid = json.loads(dashboard)["uid"]   # also proves the file is JSON
    if not dashboard.endswith("\n"):
        dashboard += "\n"
    return (header(DASHBOARD)
            + "# Grafana's dashboard sidecar (kube-prometheus-stack: sidecar.dashboards)\n"
            + "# loads every ConfigMap labelled grafana_dashboard; the folder comes from\n"
            + "# the grafana_folder annotation where the sidecar is configured to read it.\n"
            + "apiVersion: v1\n"
            + "kind: ConfigMap\n"
            + "metadata:\n"
            + "  name: rcr-grafana-dashboard\n"
            + "  labels:\n"
            + '    grafana_dashboard: "1"\n'
            + "  annotations:\n"
            + "    grafana_folder: RandomCameraReviews\n"
            + "data:\n"
            + f"  {uid}.json: |\n"
            + indent(dashboard, 4))


def outputs():
    def read(rel):
        with open(os.path.join(DEPLOY, rel), encoding="utf-8") as f:
            return f.read()
    return {RULE_OUT: prometheus_rule(read(ALERTS)),
            DASHBOARD_OUT: dashboard_configmap(read(DASHBOARD))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    stale = []
    for rel, text in outputs().items():
        path = os.path.join(DEPLOY, rel)
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        if args.check:
            stale.append(f"deploy/{rel}")
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote deploy/{rel}")
    if stale:
        print("out of date (run deploy/k8s/tools/generate.py): " + ", ".join(stale))
        sys.exit(1)


if __name__ == "__main__":
    main()
