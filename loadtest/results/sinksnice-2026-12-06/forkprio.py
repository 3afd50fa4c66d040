"""Set the account-state Redis main thread's nice; below 0 also SCHED_RESET_ON_FORK, so the
children it forks (the AOF rewrite) start at nice 0: inside Redis's autogroup the main thread
then outweighs its rewrite child (the group's weight is split by its threads' loads)."""
import os
import sys
from pathlib import Path

pid = int(Path('/work/main/.local/run/redis.pid').read_text())
nice = int(sys.argv[1])
policy = os.SCHED_OTHER | (os.SCHED_RESET_ON_FORK if nice < 0 else 0)
os.sched_setscheduler(pid, policy, os.sched_param(0))
os.setpriority(os.PRIO_PROCESS, pid, nice)
print(pid, os.getpriority(os.PRIO_PROCESS, pid), os.sched_getscheduler(pid))
