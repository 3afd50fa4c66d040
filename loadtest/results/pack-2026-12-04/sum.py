"""One line per bench run: python sum.py NAME... (files <NAME>.json beside this script, or
DIR/NAME for <DIR/NAME>.json elsewhere, e.g. ../final-2026-12-05/w2-1)."""
import json,sys
from pathlib import Path
here = Path(__file__).parent
for n in sys.argv[1:]:
    d=json.load(open(Path(f'{n}.json') if '/' in n else here / f'{n}.json'))
    c=d['cpu_us_per_tx']; f=d['floor']['us_per_tx']
    w=sum(v for k,v in c.items() if k.startswith('worker'))
    print(f"{n:8s} tps {d['tps']:8.0f} cpu {d['cpu_us_per_tx_total']:6.1f} floor {f['total']:5.1f} (pg {f['postgres']:.1f} {d['floor'].get('postgres_us_per_tx_repeats','')}) x{d['floor_multiple']:.2f} | workers {w:5.1f} redis {c['redis']:5.1f} pg {c['postgres']:5.1f} kafka {c['kafka']:5.1f} sinks {c['sink-ledger']+c['sink-reporting']:5.1f} gen {c['load-generator']:4.1f} | p99@70 {d['e2e_p99_ms_at_70pct']:.0f}")
