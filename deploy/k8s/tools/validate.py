#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline.

Built-in kinds are checked against the OpenAPI-derived JSON schemas that the
PyPI package `kubernetes-validate` ships inside itself (strict: unknown
fields are errors; no download at run time). Custom resources are checked
against the small schemas below (CloudNativePG `Cluster`, the fields these
manifests use), and any other kind must at least have apiVersion, kind and
metadata.name. Also checks that every ConfigMap/Secret/Service a workload
names exists in the same rendering.

usage: validate.py [--k8s-version 1.31.0] FILE...   (one line per file; exit 1 on failure)
"""
import argparse
import sys

import jsonschema
import yaml

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
SECRET_KEY = {"type": "object", "required": ["name", "key"], "additionalProperties": False,
              "properties": {"name": NAME, "key": {"type": "string"}}}
RESOURCES = {"type": "object", "additionalProperties": False,
             "properties": {"requests": {"type": "object"}, "limits": {"type": "object"}}}
CNPG_CLUSTER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "postgresql.cnpg.io/v1"},
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": NAME}},
        "spec": {
            "type": "object",
            "required": ["instances", "storage"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": {"type": "string"},
                "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
                "minSyncReplicas": {"type": "integer", "minimum": 0},
                "maxSyncReplicas": {"type": "integer", "minimum": 0},
                "postgresql": {"type": "object", "properties": {
                    "parameters": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "bootstrap": {"type": "object", "additionalProperties": False, "properties": {
                    "initdb": {"type": "object", "properties": {"database": {"type": "string"},
                                                                "owner": {"type": "string"}}},
                    "pg_basebackup": {"type": "object", "required": ["source"],
                                      "properties": {"source": {"type": "string"}}},
                    "recovery": {"type": "object"}}},
                "replica": {"type": "object", "additionalProperties": False,
                            "required": ["source"],
                            "properties": {"enabled": {"type": "boolean"}, "source": {"type": "string"},
                                           "primary": {"type": "string"}, "self": {"type": "string"}}},
                "externalClusters": {"type": "array", "items": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"},
                                   "connectionParameters": {"type": "object",
                                                            "additionalProperties": {"type": "string"}},
                                   "sslKey": SECRET_KEY, "sslCert": SECRET_KEY, "sslRootCert": SECRET_KEY,
                                   "password": SECRET_KEY, "barmanObjectStore": {"type": "object"}}}},
                "storage": {"type": "object", "required": ["size"],
                            "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}}},
                "walStorage": {"type": "object", "required": ["size"],
                               "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}}},
                "resources": RESOURCES,
                "monitoring": {"type": "object", "properties": {"enablePodMonitor": {"type": "boolean"}}},
                "backup": {"type": "object"},
            },
        },
    },
}
CUSTOM = {("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER}


def check_custom(doc):
    schema = CUSTOM.get((doc.get("apiVersion"), doc.get("kind")))
    if schema is None:
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str) or not doc[field]:
                raise ValueError(f"missing {field}")
        if not doc.get("metadata", {}).get("name"):
            raise ValueError("missing metadata.name")
        return "structure only"
    jsonschema.validate(doc, schema)
    # A replica cluster must name an external cluster it can reach.
    spec = doc["spec"]
    sources = {spec.get("replica", {}).get("source"),
               spec.get("bootstrap", {}).get("pg_basebackup", {}).get("source")} - {None}
    known = {c["name"] for c in spec.get("externalClusters", [])}
    if sources - known:
        raise ValueError(f"sources {sorted(sources - known)} not in externalClusters")
    return "CloudNativePG schema subset"


def references(docs):
    """Names a workload refers to that the rendering does not define."""
    have = {(d.get("kind"), d.get("metadata", {}).get("name")) for d in docs}
    missing = []
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        where = f"{d['kind']}/{d['metadata']['name']}"
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef and ("ConfigMap", ef["configMapRef"]["name"]) not in have:
                    missing.append(f"{where}: ConfigMap {ef['configMapRef']['name']}")
                if "secretRef" in ef and ("Secret", ef["secretRef"]["name"]) not in have:
                    missing.append(f"{where}: Secret {ef['secretRef']['name']}")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = next((x for x in docs if x.get("kind") == "Secret"
                                   and x["metadata"]["name"] == ref["name"]), None)
                    keys = set((secret or {}).get("stringData", {})) | set((secret or {}).get("data", {}))
                    if secret is None or ref["key"] not in keys:
                        missing.append(f"{where}: Secret {ref['name']} key {ref['key']}")
        for v in pod.get("volumes", []):
            if "secret" in v and ("Secret", v["secret"]["secretName"]) not in have:
                missing.append(f"{where}: Secret {v['secret']['secretName']}")
            if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in have:
                missing.append(f"{where}: ConfigMap {v['configMap']['name']}")
    for d in docs:
        if d.get("kind") == "HorizontalPodAutoscaler":
            ref = d["spec"]["scaleTargetRef"]
            if (ref["kind"], ref["name"]) not in have:
                missing.append(f"HPA/{d['metadata']['name']}: {ref['kind']} {ref['name']}")
    return missing


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--k8s-version", default="1.31.0")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failed = False
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        errors, builtin, custom = [], 0, 0
        for d in docs:
            name = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(d, args.k8s_version, strict=True)
                builtin += 1
            except SchemaNotFoundError:
                try:
                    check_custom(d)
                    custom += 1
                except (ValueError, jsonschema.ValidationError) as e:
                    errors.append(f"{name}: {getattr(e, 'message', e)}")
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{name}: {'.'.join(str(p) for p in e.path)}: {e.message}")
        errors += [f"dangling reference: {m}" for m in references(docs)]
        if not docs:
            errors.append("no objects")
        if errors:
            failed = True
            print(f"FAIL {path}: " + "; ".join(errors))
        else:
            print(f"ok   {path}: {builtin} objects valid for Kubernetes {args.k8s_version}, {custom} custom resources checked")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
