"""Fold `perf script` output of redis-server (DWARF call graphs) into the parts of README.md.

    perf record -F 499 --call-graph dwarf,16384 -p <redis pid> -o redis.perf -- sleep 45
    perf script -i redis.perf > redis.script
    python3 breakdown.py redis.script
"""

import sys
from collections import Counter

stacks: list[list[str]] = []
current: list[str] | None = None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("redis-server"):
        if current is not None:
            stacks.append(current)
        current = []
    elif line.strip() and current is not None:
        parts = line.split()
        name = parts[1].split("+")[0] if len(parts) > 1 else "?"
        current.append(parts[0] if name == "[unknown]" else name)  # leaf first
if current:
    stacks.append(current)


def share(pred) -> str:  # type: ignore[no-untyped-def]
    return f"{100 * sum(1 for s in stacks if pred(s)) / len(stacks):.1f}%"


print(f"{len(stacks)} samples")
print("EVAL/EVALSHA (scripts, with the commands they call):", share(lambda s: "evalGenericCommand" in s))
print("  commands called from Lua (scriptCall):", share(lambda s: "scriptCall" in s))
print("  KEYS/ARGV made Lua strings (lua_pushlstring from luaCallFunction):",
      share(lambda s: "lua_pushlstring" in s and "luaCallFunction" in s and "scriptCall" not in s))
print("EXEC (the read's MULTI):", share(lambda s: "execCommand" in s))
print("key lookups (lookupKey):", share(lambda s: "lookupKey" in s))
print("AOF (feedAppendOnlyFile):", share(lambda s: "feedAppendOnlyFile" in s))
print("serverCron (the AOF rewrite's fork among it):", share(lambda s: "serverCron" in s))
print("SCAN + DEL (worker_bench's clean-up):", share(lambda s: "scanGenericCommand" in s or "delGenericCommand" in s))
commands: Counter[str] = Counter()
for s in stacks:
    for frame in s:
        if frame.endswith("Command") and frame not in (
                "evalGenericCommand", "processCommand", "execCommand", "call"):
            commands[frame] += 1
            break
print("by command (innermost):", ", ".join(f"{k} {100 * v / len(stacks):.1f}%"
                                           for k, v in commands.most_common(12)))
