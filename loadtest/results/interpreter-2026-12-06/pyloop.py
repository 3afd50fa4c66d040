"""Pure Python of the worker's kind (dicts, a slots dataclass, f-strings, joins), no library:
CPU seconds for 2M steps. Run under each interpreter, alternated (compute_pairs3.txt)."""

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class S:
    balances: dict = field(default_factory=dict)
    seq: int = 0


def work(n: int) -> int:
    out = []
    states: dict[str, S] = {}
    for i in range(n):
        k = f"acct-{i % 5000}"
        s = states.get(k)
        if s is None:
            s = states[k] = S()
        s.balances["EUR"] = s.balances.get("EUR", 0) + i
        s.seq += 1
        out.append((k, s.seq, "|".join((k, str(i), "EUR"))))
    return len(out)


t = time.process_time()
for _ in range(20):
    work(100000)
print(round(time.process_time() - t, 3))
