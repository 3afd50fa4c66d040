# a memory-bound burner: random reads and writes over 256 MB (far past the 32 MB L3)
import numpy as np
a = np.zeros(32 * 1024 * 1024, dtype=np.int64)
rng = np.random.default_rng(1)
idx = rng.integers(0, a.size, 1_000_000)
while True:
    a[idx] += 1
