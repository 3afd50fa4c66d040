"""The deployment files validate offline (`make validate-deploy`), and the validator catches
what it is for: a mistyped key, a port on every address, a container with privileges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))

from validate import compose_problems  # noqa: E402


def test_make_validate_deploy_passes() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "validate.py")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("validate-deploy: ok")


def test_the_compose_check_names_what_is_wrong(tmp_path: Path) -> None:
    source = ROOT / "deploy" / "compose"
    document = yaml.safe_load((source / "compose.yaml").read_text())
    document["services"]["api"]["helthcheck"] = {"test": ["CMD", "true"]}   # a typo
    document["services"]["grafana"]["ports"] = ["3000:3000"]               # every address
    document["services"]["sinks"]["read_only"] = False
    broken = source / "compose.broken-test.yaml"  # beside the real one: relative files resolve
    try:
        broken.write_text(yaml.safe_dump(document))
        problems = "\n".join(compose_problems(broken))
    finally:
        broken.unlink()
    assert "services/api" in problems and "helthcheck" in problems
    assert "services/grafana: port '3000:3000' is published on every address" in problems
    assert "services/sinks: a paystream container must be read_only" in problems
