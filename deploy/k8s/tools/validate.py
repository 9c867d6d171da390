#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline.

Built-in kinds are checked against the OpenAPI-derived JSON schemas that the
PyPI package `kubernetes-validate` ships inside itself (strict: unknown
fields are errors; no download at run time). It has no schemas for custom
resources, so the ones these manifests use are checked against the subset
schemas below (the fields we use, unknown ones refused where we can tell):
CloudNativePG `Cluster` and `ScheduledBackup`, the Barman Cloud plugin's
`ObjectStore`, the Prometheus Operator's `PodMonitor` and `PrometheusRule`,
cert-manager's `Certificate`. Any other kind must at least have apiVersion,
kind and metadata.name.

Then what the objects say about each other:
- every ConfigMap/Secret (and Secret key) a workload names exists in the same
  rendering, or is made by an operator from it (a Certificate's secretName;
  CloudNativePG's `<cluster>-ca`, `-replication`, `-server`, `-app`,
  `-superuser`), or is one a Cluster's externalClusters needs (copied from
  another region out of band);
- a PodMonitor's selector matches a pod template whose labels include the
  jobLabel and whose containers name each scraped port;
- a Certificate's Secret is mounted by some pod;
- a ScheduledBackup names a Cluster of the rendering and, with the plugin
  method, a plugin that Cluster uses; every barmanObjectName is an ObjectStore
  of the rendering, whose credentials Secret holds the keys it names; a
  Cluster's bootstrap and replica sources are among its externalClusters.

usage: validate.py [--k8s-version 1.31.0] FILE...   (one line per file; exit 1 on failure)
"""
import argparse
import sys

import jsonschema
import yaml

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w|y))+$"}  # Go / Prometheus durations
SECRET_KEY = {"type": "object", "required": ["name", "key"], "additionalProperties": False,
              "properties": {"name": NAME, "key": {"type": "string"}}}
RESOURCES = {"type": "object", "additionalProperties": False,
             "properties": {"requests": {"type": "object"}, "limits": {"type": "object"}}}
METADATA = {"type": "object", "required": ["name"], "properties": {"name": NAME}}


def custom_resource(api_version, spec, required=("spec",)):
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", *required],
            "properties": {"apiVersion": {"const": api_version}, "metadata": METADATA, "spec": spec}}


CNPG_PLUGIN = {"type": "object", "required": ["name"], "additionalProperties": False,
               "properties": {"name": {"type": "string"}, "enabled": {"type": "boolean"},
                              "isWALArchiver": {"type": "boolean"}, "parameters": STR_MAP}}
CNPG_CLUSTER = custom_resource("postgresql.cnpg.io/v1", {
    "type": "object",
    "required": ["instances", "storage"],
    "additionalProperties": False,
    "properties": {
        "instances": {"type": "integer", "minimum": 1},
        "imageName": {"type": "string"},
        "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
        "minSyncReplicas": {"type": "integer", "minimum": 0},
        "maxSyncReplicas": {"type": "integer", "minimum": 0},
        "postgresql": {"type": "object", "additionalProperties": False, "properties": {
            "parameters": STR_MAP,
            "pg_hba": {"type": "array", "items": {"type": "string"}}}},
        "bootstrap": {"type": "object", "additionalProperties": False,
                      "minProperties": 1, "maxProperties": 1, "properties": {
            "initdb": {"type": "object", "properties": {"database": {"type": "string"},
                                                        "owner": {"type": "string"}}},
            "pg_basebackup": {"type": "object", "required": ["source"],
                              "properties": {"source": {"type": "string"}}},
            "recovery": {"type": "object", "required": ["source"], "additionalProperties": False, "properties": {
                "source": {"type": "string"},
                "database": {"type": "string"}, "owner": {"type": "string"},
                "recoveryTarget": {"type": "object", "additionalProperties": False,
                                   "minProperties": 1, "properties": {
                    "targetTime": {"type": "string"}, "targetLSN": {"type": "string"},
                    "targetXID": {"type": "string"}, "targetName": {"type": "string"},
                    "targetImmediate": {"type": "boolean"}, "targetTLI": {"type": "string"},
                    "exclusive": {"type": "boolean"}}}}}}},
        "replica": {"type": "object", "additionalProperties": False,
                    "required": ["source"],
                    "properties": {"enabled": {"type": "boolean"}, "source": {"type": "string"},
                                   "primary": {"type": "string"}, "self": {"type": "string"}}},
        "externalClusters": {"type": "array", "items": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string"},
                           "connectionParameters": STR_MAP,
                           "sslKey": SECRET_KEY, "sslCert": SECRET_KEY, "sslRootCert": SECRET_KEY,
                           "password": SECRET_KEY, "plugin": CNPG_PLUGIN}}},
        "plugins": {"type": "array", "items": CNPG_PLUGIN},
        "certificates": {"type": "object", "additionalProperties": False, "properties": {
            "serverAltDNSNames": {"type": "array", "items": {"type": "string"}},
            "serverCASecret": NAME, "serverTLSSecret": NAME,
            "clientCASecret": NAME, "replicationTLSSecret": NAME}},
        "storage": {"type": "object", "required": ["size"],
                    "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}}},
        "walStorage": {"type": "object", "required": ["size"],
                       "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}}},
        "resources": RESOURCES,
        "monitoring": {"type": "object", "properties": {"enablePodMonitor": {"type": "boolean"}}},
    },
})
CNPG_SCHEDULED_BACKUP = custom_resource("postgresql.cnpg.io/v1", {
    "type": "object", "required": ["schedule", "cluster"], "additionalProperties": False,
    "properties": {
        # CloudNativePG's cron has six fields, seconds first.
        "schedule": {"type": "string", "pattern": r"^\S+( \S+){5}$"},
        "cluster": {"type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": NAME}},
        "method": {"enum": ["barmanObjectStore", "volumeSnapshot", "plugin"]},
        "pluginConfiguration": {"type": "object", "required": ["name"], "additionalProperties": False,
                                "properties": {"name": {"type": "string"}, "parameters": STR_MAP}},
        "immediate": {"type": "boolean"},
        "suspend": {"type": "boolean"},
        "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
        "target": {"enum": ["primary", "prefer-standby"]},
        "online": {"type": "boolean"},
    },
})
COMPRESSION = {"enum": ["bzip2", "gzip", "lz4", "snappy", "xz", "zstd"]}
ENCRYPTION = {"enum": ["AES256", "aws:kms"]}
BARMAN_OBJECT_STORE = custom_resource("barmancloud.cnpg.io/v1", {
    "type": "object", "required": ["configuration"], "additionalProperties": False,
    "properties": {
        "retentionPolicy": {"type": "string", "pattern": r"^[1-9][0-9]*[dwm]$"},
        "instanceSidecarConfiguration": {"type": "object"},
        "configuration": {
            "type": "object", "required": ["destinationPath"], "additionalProperties": False,
            "properties": {
                "destinationPath": {"type": "string", "pattern": r"^(s3|gs)://[^/]+/|^https://"},
                "endpointURL": {"type": "string", "pattern": r"^https?://"},
                "serverName": {"const": ""},   # the plugin's serverName is a Cluster parameter
                "s3Credentials": {"type": "object", "additionalProperties": False, "properties": {
                    "accessKeyId": SECRET_KEY, "secretAccessKey": SECRET_KEY, "region": SECRET_KEY,
                    "sessionToken": SECRET_KEY, "inheritFromIAMRole": {"type": "boolean"}}},
                "wal": {"type": "object", "additionalProperties": False, "properties": {
                    "compression": COMPRESSION, "encryption": ENCRYPTION,
                    "maxParallel": {"type": "integer", "minimum": 1}}},
                "data": {"type": "object", "additionalProperties": False, "properties": {
                    "compression": COMPRESSION, "encryption": ENCRYPTION,
                    "jobs": {"type": "integer", "minimum": 1},
                    "immediateCheckpoint": {"type": "boolean"}}},
                "tags": STR_MAP, "historyTags": STR_MAP,
            },
        },
    },
})
RELABELING = {"type": "object", "additionalProperties": False, "properties": {
    "sourceLabels": {"type": "array", "items": {"type": "string"}}, "separator": {"type": "string"},
    "targetLabel": {"type": "string"}, "regex": {"type": "string"}, "modulus": {"type": "integer"},
    "replacement": {"type": "string"},
    "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                        "lowercase", "uppercase", "keepequal", "dropequal"]}}}
POD_MONITOR = custom_resource("monitoring.coreos.com/v1", {
    "type": "object", "required": ["selector", "podMetricsEndpoints"], "additionalProperties": False,
    "properties": {
        "jobLabel": {"type": "string"},
        "podTargetLabels": {"type": "array", "items": {"type": "string"}},
        "namespaceSelector": {"type": "object"},
        "selector": {"type": "object", "required": ["matchLabels"], "additionalProperties": False,
                     "properties": {"matchLabels": {**STR_MAP, "minProperties": 1}}},
        "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["port"], "additionalProperties": False,
            "properties": {"port": {"type": "string"}, "path": {"type": "string", "pattern": "^/"},
                           "scheme": {"enum": ["http", "https"]},
                           "interval": DURATION, "scrapeTimeout": DURATION,
                           "honorLabels": {"type": "boolean"},
                           "relabelings": {"type": "array", "items": RELABELING},
                           "metricRelabelings": {"type": "array", "items": RELABELING}}}},
    },
})
RULE = {"type": "object", "required": ["expr"], "additionalProperties": False,
        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
        "properties": {"alert": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                       "record": {"type": "string"},
                       "expr": {"type": "string", "minLength": 1}, "for": DURATION,
                       "keep_firing_for": DURATION, "labels": STR_MAP, "annotations": STR_MAP}}
PROMETHEUS_RULE = custom_resource("monitoring.coreos.com/v1", {
    "type": "object", "required": ["groups"], "additionalProperties": False,
    "properties": {"groups": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "rules"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "interval": DURATION,
                       "rules": {"type": "array", "minItems": 1, "items": RULE}}}}},
})
CERTIFICATE = custom_resource("cert-manager.io/v1", {
    "type": "object", "required": ["secretName", "issuerRef", "dnsNames"], "additionalProperties": False,
    "properties": {
        "secretName": NAME,
        "commonName": {"type": "string"},
        "dnsNames": {"type": "array", "minItems": 1, "items": {
            "type": "string", "pattern": r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$"}},
        "issuerRef": {"type": "object", "required": ["name", "kind"], "additionalProperties": False,
                      "properties": {"name": NAME, "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                                     "group": {"const": "cert-manager.io"}}},
        "duration": DURATION, "renewBefore": DURATION,
        "privateKey": {"type": "object", "additionalProperties": False, "properties": {
            "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]}, "size": {"type": "integer"},
            "encoding": {"enum": ["PKCS1", "PKCS8"]}, "rotationPolicy": {"enum": ["Never", "Always"]}}},
        "usages": {"type": "array", "items": {"type": "string"}},
        "secretTemplate": {"type": "object"},
    },
})
CUSTOM = {
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): CNPG_SCHEDULED_BACKUP,
    ("barmancloud.cnpg.io/v1", "ObjectStore"): BARMAN_OBJECT_STORE,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
}
# Secrets CloudNativePG makes for a Cluster named X, and their keys.
CNPG_SECRETS = {"-ca": {"ca.crt", "ca.key"}, "-replication": {"tls.crt", "tls.key"},
                "-server": {"tls.crt", "tls.key"}, "-app": None, "-superuser": None}
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


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
    if doc["kind"] == "Cluster":
        # Bootstrap and replica sources must be external clusters it defines.
        spec = doc["spec"]
        bootstrap = spec.get("bootstrap", {})
        sources = {spec.get("replica", {}).get("source"),
                   bootstrap.get("pg_basebackup", {}).get("source"),
                   bootstrap.get("recovery", {}).get("source")} - {None}
        known = {c["name"] for c in spec.get("externalClusters", [])}
        if sources - known:
            raise ValueError(f"sources {sorted(sources - known)} not in externalClusters")
    return "subset schema"


def pod_templates(docs):
    """(where, labels, pod spec) of every workload's pod template."""
    for d in docs:
        spec = d.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if template and "spec" in template:
            yield f"{d['kind']}/{d['metadata']['name']}", template.get("metadata", {}).get("labels", {}), template["spec"]


def known_secrets(docs):
    """Secret name -> its keys (None: any) for every Secret the rendering
    defines or makes an operator make, and those its Clusters need copied in."""
    secrets = {}
    for d in docs:
        kind, name, spec = d.get("kind"), d.get("metadata", {}).get("name"), d.get("spec", {})
        if kind == "Secret":
            secrets[name] = set(d.get("stringData", {})) | set(d.get("data", {}))
        elif kind == "Certificate":
            secrets[spec["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
        elif kind == "Cluster":
            for suffix, keys in CNPG_SECRETS.items():
                secrets[name + suffix] = keys
            for ext in spec.get("externalClusters", []):
                for field in ("sslKey", "sslCert", "sslRootCert", "password"):
                    if field in ext:
                        ref = ext[field]
                        keys = secrets.setdefault(ref["name"], set())
                        if keys is not None:
                            keys.add(ref["key"])
    return secrets


def references(docs):
    """Names a workload refers to that the rendering does not define."""
    have = {(d.get("kind"), d.get("metadata", {}).get("name")) for d in docs}
    secrets = known_secrets(docs)
    missing = []

    def secret_key(where, name, key):
        if name not in secrets:
            missing.append(f"{where}: Secret {name}")
        elif key is not None and secrets[name] is not None and key not in secrets[name]:
            missing.append(f"{where}: Secret {name} key {key}")

    for where, _, pod in pod_templates(docs):
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef and ("ConfigMap", ef["configMapRef"]["name"]) not in have:
                    missing.append(f"{where}: ConfigMap {ef['configMapRef']['name']}")
                if "secretRef" in ef:
                    secret_key(where, ef["secretRef"]["name"], None)
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret_key(where, ref["name"], ref["key"])
        for v in pod.get("volumes", []):
            if "secret" in v:
                items = v["secret"].get("items") or [{"key": None}]
                for item in items:
                    secret_key(where, v["secret"]["secretName"], item["key"])
            if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in have:
                missing.append(f"{where}: ConfigMap {v['configMap']['name']}")
    for d in docs:
        if d.get("kind") == "HorizontalPodAutoscaler":
            ref = d["spec"]["scaleTargetRef"]
            if (ref["kind"], ref["name"]) not in have:
                missing.append(f"HPA/{d['metadata']['name']}: {ref['kind']} {ref['name']}")
    return missing


def custom_references(docs):
    """What the custom resources say about the rest of the rendering."""
    errors = []
    templates = list(pod_templates(docs))
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), {})[d.get("metadata", {}).get("name")] = d
    secrets = known_secrets(docs)
    mounted = {v["secret"]["secretName"] for _, _, pod in templates for v in pod.get("volumes", []) if "secret" in v}

    def object_store(where, plugin):
        if plugin.get("name") != BARMAN_PLUGIN:
            return
        store = plugin.get("parameters", {}).get("barmanObjectName")
        if store not in by_kind.get("ObjectStore", {}):
            errors.append(f"{where}: barmanObjectName {store!r} is no ObjectStore of this rendering")

    for name, pm in by_kind.get("PodMonitor", {}).items():
        where = f"PodMonitor/{name}"
        selector = pm["spec"]["selector"]["matchLabels"]
        matched = [(w, labels, pod) for w, labels, pod in templates
                   if all(labels.get(k) == v for k, v in selector.items())]
        if not matched:
            errors.append(f"{where}: selector {selector} matches no pod template")
            continue
        for w, labels, pod in matched:
            job_label = pm["spec"].get("jobLabel")
            if job_label and job_label not in labels:
                errors.append(f"{where}: {w} has no label {job_label} (jobLabel)")
            ports = {p.get("name") for c in pod.get("containers", []) for p in c.get("ports", [])}
            for ep in pm["spec"]["podMetricsEndpoints"]:
                if ep["port"] not in ports:
                    errors.append(f"{where}: {w} has no container port named {ep['port']}")
    for name, cert in by_kind.get("Certificate", {}).items():
        if cert["spec"]["secretName"] not in mounted:
            errors.append(f"Certificate/{name}: no pod mounts its Secret {cert['spec']['secretName']}")
    for name, cluster in by_kind.get("Cluster", {}).items():
        for plugin in cluster["spec"].get("plugins", []):
            object_store(f"Cluster/{name} plugins", plugin)
        for ext in cluster["spec"].get("externalClusters", []):
            if "plugin" in ext:
                object_store(f"Cluster/{name} externalClusters {ext['name']}", ext["plugin"])
    for name, sb in by_kind.get("ScheduledBackup", {}).items():
        where = f"ScheduledBackup/{name}"
        cluster = by_kind.get("Cluster", {}).get(sb["spec"]["cluster"]["name"])
        if cluster is None:
            errors.append(f"{where}: no Cluster {sb['spec']['cluster']['name']}")
        elif sb["spec"].get("method") == "plugin":
            plugin = sb["spec"].get("pluginConfiguration", {}).get("name")
            used = {p["name"] for p in cluster["spec"].get("plugins", []) if p.get("enabled", True)}
            if plugin not in used:
                errors.append(f"{where}: plugin {plugin!r} is not among Cluster/{cluster['metadata']['name']}'s plugins")
    for name, store in by_kind.get("ObjectStore", {}).items():
        for field, ref in store["spec"]["configuration"].get("s3Credentials", {}).items():
            if isinstance(ref, dict):
                keys = secrets.get(ref["name"], set())
                if ref["name"] not in secrets or (keys is not None and ref["key"] not in keys):
                    errors.append(f"ObjectStore/{name}: s3Credentials.{field}: Secret {ref['name']} key {ref['key']}")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--k8s-version", default="1.31.0")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failed = False
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        errors, builtin, custom, valid = [], 0, 0, []
        for d in docs:
            name = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(d, args.k8s_version, strict=True)
                builtin += 1
                valid.append(d)
            except SchemaNotFoundError:
                try:
                    check_custom(d)
                    custom += 1
                    valid.append(d)
                except ValueError as e:
                    errors.append(f"{name}: {e}")
                except jsonschema.ValidationError as e:
                    errors.append(f"{name}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}")
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{name}: {'.'.join(str(p) for p in e.path)}: {e.message}")
        errors += [f"dangling reference: {m}" for m in references(docs)]
        # Only objects that passed their schema: the cross-checks rely on it.
        errors += custom_references(valid)
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
