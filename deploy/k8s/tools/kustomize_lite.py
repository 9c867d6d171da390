#!/usr/bin/env python3
"""A small kustomize for the features deploy/k8s uses, when no kustomize (or
`kubectl kustomize`) is installed: `resources` (files and directories with a
kustomization.yaml), `namespace`, `labels` (pairs, includeTemplates,
includeSelectors), `patches` (strategic-merge patch files, target taken from
the patch's kind and name) and `images` (newName/newTag). Anything else in a
kustomization is refused, so the fallback never renders silently wrong.

usage: kustomize_lite.py DIR > rendered.yaml     (needs PyYAML)
"""
import copy
import os
import sys

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "labels", "patches", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass"}
# Lists merged element by element on this key (strategic merge patch), as
# Kubernetes declares them; every other list is replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "envFrom": None,
              "externalClusters": "name", "imagePullSecrets": "name"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def merge(base, patch, key=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and MERGE_KEYS.get(key):
        mk = MERGE_KEYS[key]
        out = [copy.deepcopy(x) for x in base]
        index = {x.get(mk): i for i, x in enumerate(out) if isinstance(x, dict)}
        new = []
        for item in patch:
            if isinstance(item, dict) and item.get(mk) in index:
                i = index[item[mk]]
                out[i] = merge(out[i], item, None)
            else:
                new.append(copy.deepcopy(item))
        # kustomize puts patch-only elements first.
        return new + out
    return copy.deepcopy(patch)


def build(directory):
    kfile = next((os.path.join(directory, n) for n in
                  ("kustomization.yaml", "kustomization.yml", "Kustomization")
                  if os.path.isfile(os.path.join(directory, n))), None)
    if kfile is None:
        raise SystemExit(f"kustomize_lite: no kustomization in {directory}")
    with open(kfile, encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    unknown = set(k) - KNOWN
    if unknown:
        raise SystemExit(f"kustomize_lite: {kfile}: unsupported fields {sorted(unknown)}")
    objects = []
    for res in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, res))
        objects.extend(build(path) if os.path.isdir(path) else load_docs(path))
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            raise SystemExit(f"kustomize_lite: {kfile}: only `patches: - path: FILE` is supported")
        for patch in load_docs(os.path.join(directory, p["path"])):
            kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
            hits = [i for i, o in enumerate(objects)
                    if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
            if len(hits) != 1:
                raise SystemExit(f"kustomize_lite: patch {p['path']}: {kind}/{name} matches {len(hits)} objects")
            objects[hits[0]] = merge(objects[hits[0]], patch)
    for spec in k.get("labels", []):
        pairs = spec.get("pairs", {})
        for o in objects:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
            if o.get("kind") in WORKLOAD_KINDS and (spec.get("includeTemplates") or spec.get("includeSelectors")):
                tmpl = o.get("spec", {}).get("template")
                if tmpl is not None:
                    tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
            if spec.get("includeSelectors"):
                sel = o.get("spec", {}).get("selector")
                if isinstance(sel, dict):
                    target = sel.setdefault("matchLabels", {}) if o.get("kind") != "Service" else sel
                    target.update(pairs)
    for img in k.get("images", []):
        for o in objects:
            pod = o.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                image = c.get("image", "")
                bare = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
                if bare == img["name"]:
                    c["image"] = f"{img.get('newName', bare)}:{img['newTag']}" if "newTag" in img else img.get("newName", bare)
    if "namespace" in k:
        for o in objects:
            if o.get("kind") in CLUSTER_SCOPED:
                continue
            o.setdefault("metadata", {})["namespace"] = k["namespace"]
    return objects


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    yaml.safe_dump_all(build(sys.argv[1]), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
