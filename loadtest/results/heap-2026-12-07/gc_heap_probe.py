import gc, time, os, sys
sys.path.insert(0, '/work/main')
from streams.accounts import AccountState
from streams.gctuning import tune_for_batches
keep = sys.argv[1] == "keep"
tune_for_batches()
spent = [0.0]; t0 = [0.0]; counts = [0,0,0]
def cb(phase, info):
    if phase == "start": t0[0] = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - t0[0]; counts[info["generation"]] += 1
gc.callbacks.append(cb)
prof = os.urandom(232)
blob = AccountState({"EUR": 5}, {}, 3, {"authorize": 1, "credits": 2}, prof, {f"t{i}": i for i in range(6)}).encode()
cache = {}
t = time.perf_counter()
for batch in range(60):
    # a batch: 16k transactions' worth of garbage containers, and 15k accounts decoded
    junk = [{"a": i, "b": [i]} for i in range(40000)]
    states = {f"acc-{(batch*15000 + i) % 100000}": AccountState.decode(blob) for i in range(15000)}
    if keep:
        for k, v in states.items():
            cache.pop(k, None); cache[k] = v
    del junk, states
print(sys.argv[1], "total", round(time.perf_counter()-t, 2), "gc", round(spent[0], 2), counts)
