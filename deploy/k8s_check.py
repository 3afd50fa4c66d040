"""Kubernetes manifests, checked offline: what kustomize renders from each overlay, against the
Kubernetes API's schemas (kubernetes-validate, strict: no unknown fields) and the vendored CRD
schemas (deploy/schemas/crds), plus the rules we hold our own pods to."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from jsonschema import Draft7Validator

#: The Kubernetes minor version the manifests are written for.
KUBERNETES = "1.32"


def kustomize() -> str:
    """The kustomize binary `make validate-deploy` installs (.local/tools/bin), else on PATH."""
    local = Path(__file__).resolve().parents[1] / ".local" / "tools" / "bin" / "kustomize"
    found = str(local) if local.exists() else shutil.which("kustomize")
    if found is None:
        raise SystemExit("validate-deploy: no kustomize: run `make validate-deploy` (it installs "
                         "kustomize with `go install` into .local/tools/bin)")
    return found


def k8s_problems(k8s: Path, schemas: Path) -> Iterator[str]:
    crds = {}
    for path in sorted((schemas / "crds").glob("*.json")):
        group, version, kind = path.stem.split("_")
        crds[(f"{group}/{version}", kind)] = Draft7Validator(_strict(json.loads(path.read_text())["schema"]))
    for overlay in sorted(p for p in (k8s / "overlays").iterdir() if p.is_dir()):
        rendered = subprocess.run([kustomize(), "build", str(overlay)], capture_output=True, text=True,
                                  check=False)
        if rendered.returncode:
            yield f"{overlay}: kustomize build failed: {rendered.stderr.strip()}"
            continue
        for document in yaml.safe_load_all(rendered.stdout):
            where = f"{overlay.name}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
            yield from _schema_problems(document, crds, where)
            yield from _pod_problems(document, where)


def _strict(schema: Any) -> Any:
    """The CRD schema refusing unknown fields, as the API server's strict field validation does
    (and kubeconform -strict): every object with properties gets additionalProperties false,
    unless it keeps unknown fields on purpose (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items()}
    if "properties" in strict and "additionalProperties" not in strict and \
            not strict.get("x-kubernetes-preserve-unknown-fields"):
        strict["additionalProperties"] = False
    return strict


def _schema_problems(document: dict[str, Any], crds: dict, where: str) -> Iterator[str]:
    key = (document["apiVersion"], document["kind"])
    if key in crds:
        for error in crds[key].iter_errors(document):
            yield f"{where}: {'/'.join(map(str, error.path)) or '(top)'}: {error.message}"
        return
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        yield f"{where}: {'/'.join(map(str, exc.path)) or '(top)'}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError:
        yield f"{where}: no schema for {key[0]} {key[1]} (a CRD to vendor into deploy/schemas/crds?)"


def _pod_problems(document: dict[str, Any], where: str) -> Iterator[str]:
    """Every pod we run: non-root, read-only root filesystem, no privilege escalation, no
    capabilities, resource requests and limits; long-running ones with probes."""
    spec = document.get("spec", {})
    template = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if not template:
        return
    if not template.get("securityContext", {}).get("runAsNonRoot"):
        yield f"{where}: the pod must set securityContext.runAsNonRoot"
    for container in template.get("containers", []):
        name = f"{where}: container {container['name']}"
        context = container.get("securityContext", {})
        if context.get("readOnlyRootFilesystem") is not True:
            yield f"{name}: readOnlyRootFilesystem must be true"
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{name}: allowPrivilegeEscalation must be false"
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            yield f"{name}: capabilities must drop ALL"
        resources = container.get("resources", {})
        if not resources.get("requests") or not resources.get("limits"):
            yield f"{name}: resources need requests and limits"
        if document["kind"] != "Job" and not ("readinessProbe" in container and "livenessProbe" in container):
            yield f"{name}: a long-running container needs readiness and liveness probes"
