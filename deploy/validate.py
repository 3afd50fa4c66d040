"""Offline validation of the deployment files (`make validate-deploy`; `make test` runs it too).

- deploy/compose/compose.yaml against the Compose Specification's JSON schema (vendored in
  deploy/schemas/, see its README), and the rules we hold it to: paystream's containers run
  read-only, without privileges or capabilities; published ports bind 127.0.0.1 only; every
  secret and config a service names is declared, and every file they point at exists.
- deploy/k8s (every manifest kustomize would render from the base and each overlay) against the
  Kubernetes API's schemas (kubernetes-validate, bundled) and the vendored CRD schemas of
  Strimzi, CloudNativePG and KEDA.

Prints one line per problem, naming the file and where in it; exits 1 if there is any.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from k8s_check import k8s_problems  # deploy/k8s_check.py, beside this file

DEPLOY = Path(__file__).resolve().parent
SCHEMAS = DEPLOY / "schemas"


def compose_problems(path: Path) -> Iterator[str]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        yield f"{path}: not readable YAML: {exc}"
        return
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    for error in sorted(Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path)):
        yield f"{path}: {'/'.join(map(str, error.path)) or '(top)'}: {error.message}"
    yield from _compose_rules(path, document)


def _compose_rules(path: Path, document: dict[str, Any]) -> Iterator[str]:
    declared = {kind: set(document.get(kind) or {}) for kind in ("secrets", "configs", "volumes")}
    for kind in ("secrets", "configs"):
        for name, spec in (document.get(kind) or {}).items():
            if "file" in spec and not (path.parent / spec["file"]).exists() and \
                    not spec["file"].startswith("./secrets/"):  # made by make-secrets.sh
                yield f"{path}: {kind}/{name}: no file {spec['file']}"
    for name, service in (document.get("services") or {}).items():
        where = f"{path}: services/{name}"
        for kind in ("secrets", "configs"):
            for ref in service.get(kind) or []:
                source = ref if isinstance(ref, str) else ref.get("source")
                if source not in declared[kind]:
                    yield f"{where}: {kind} {source!r} is not declared"
        for port in service.get("ports") or []:
            if not str(port).startswith("127.0.0.1:"):
                yield f"{where}: port {port!r} is published on every address, not 127.0.0.1"
        if service.get("image", "").startswith("paystream"):
            if service.get("read_only") is not True:
                yield f"{where}: a paystream container must be read_only"
            if "no-new-privileges:true" not in (service.get("security_opt") or []):
                yield f"{where}: security_opt must hold no-new-privileges:true"
            if "ALL" not in (service.get("cap_drop") or []):
                yield f"{where}: cap_drop must be ALL"
        if "healthcheck" not in service and service.get("restart") != "no":
            image = service.get("image", "")
            if not image.startswith("paystream"):  # the image's own HEALTHCHECK covers ours
                yield f"{where}: no healthcheck"


def main() -> int:
    problems = list(compose_problems(DEPLOY / "compose" / "compose.yaml"))
    problems += list(k8s_problems(DEPLOY / "k8s", SCHEMAS))
    for problem in problems:
        print(problem)
    print(f"validate-deploy: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
