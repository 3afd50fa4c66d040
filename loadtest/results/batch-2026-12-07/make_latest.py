"""usage: make_latest.py RUN BASELINE_TPS [FOLDER]: loadtest/results/latest.{json,md,png} from
FOLDER's RUN.* (default: this script's folder), with the baseline measured in the same session
filled in and the paths made latest's (as the sessions before did by hand)."""
import json
import shutil
import sys
from pathlib import Path

here = Path(sys.argv[3]).resolve() if len(sys.argv) > 3 else Path(__file__).resolve().parent
results = here.parent
run, baseline = sys.argv[1], float(sys.argv[2])
folder = f"loadtest/results/{here.name}"
data = json.loads((here / f"{run}.json").read_text())
tps = data["tps"]
data["baseline_tps"] = baseline
data["tps_vs_baseline"] = round(tps / baseline, 2)
data["json"], data["chart"] = "loadtest/results/latest.json", "loadtest/results/latest.png"
data["profile"]["file"] = f"{folder}/{run}-worker-1.pyspy.txt"
(results / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
md = (here / f"{run}.md").read_text().splitlines(keepends=True)
md = [line.replace(f"loadtest/results/{run}-worker-1.pyspy.txt", f"{folder}/{run}-worker-1.pyspy.txt")
      .replace(f"loadtest/results/{run}.png", "loadtest/results/latest.png")
      .replace(f"loadtest/results/{run}.json", "loadtest/results/latest.json") for line in md]
at = next(i for i, line in enumerate(md) if line.startswith("|"))  # the phases' table
while md[at].startswith("|"):
    at += 1
md[at:at] = ["\n", f"Baseline measured in the same session on this machine: {baseline:,.0f} tps; "
             f"this run {tps:,.0f} tps = {tps / baseline:.2f}x.\n"]
(results / "latest.md").write_text("".join(md))
shutil.copyfile(here / f"{run}.png", results / "latest.png")
