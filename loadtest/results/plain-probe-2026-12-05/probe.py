"""What the account-state Redis would spend on a worker's batches without Lua: a probe.

Replays the read and commit scripts' EVALSHAs captured from one worker draining a backlog
(`capture.pkl`: (script, keys, args) in the order they ran; captured by a throwaway patch of
RedisStateStore._evalsha, see README.md) against a scratch redis-server set up as the stack's
(AOF, appendfsync always), in three ways, and prints the server's CPU (utime + stime from /proc)
for each:

- lua:   the EVALSHAs as they ran (agents/read.lua, agents/commit.lua);
- noop:  the same EVALSHAs to scripts that only return (the KEYS/ARGV tables and the request);
- plain-read, plain-commit: only that script's batches as plain commands, the other as it ran;
- hybrid-read: the reads as plain commands but for the fan-in counts and times, which one small
         script answers inside the same MULTI; the commits as they ran;
- plain: each batch as plain commands in MULTI/EXEC, what a commit fenced per partition (one
         WATCHed key per partition instead of a version per account) would send: MSET of the
         accounts, an HSET per record, a ZADD per index, the fan-in sets' ZADD GT, trims and
         PEXPIRE, HINCRBY per day, the outbox HSET and HDELs; the read as MGET, EXISTS in the
         script's chunks, GETs, ZCOUNT per payment and ZMSCORE per destination. The rare
         conditional parts (records that exist, pruning) are left out: the bench's batches
         nearly never take them.

    python probe.py capture.pkl [rounds]
"""
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paystream_avro import pack_command

AGENTS = Path(__file__).resolve().parents[3] / "agents"
PORT = 17011
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Conn:
    def __init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", PORT))
        self.buf = b""

    def send(self, commands: list[tuple]) -> None:
        self.sock.sendall(b"".join(pack_command(c) for c in commands))
        for _ in commands:
            self._reply()

    def call(self, *command):
        self.sock.sendall(pack_command(command))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")


def plain_commit(keys: list[str], args: list) -> list[tuple]:
    out: list[tuple] = []
    ai, ki = 0, 0
    n = int(args[ai]); ai += 1
    accounts = keys[ki:ki + n]
    pairs = []
    for i in range(n):
        pairs += [accounts[i], args[ai + 2 * i + 1]]
    ai += 2 * n; ki += n
    m = int(args[ai]); ai += 2
    created = []
    records = []
    for i in range(m):
        fields = int(args[ai + 1]); ai += 2
        flat = args[ai:ai + 2 * fields]; ai += 2 * fields
        if "h" in flat[0::2]:
            created.append(keys[ki + i])
        if fields:
            records.append(("HSET", keys[ki + i], *flat))
    ki += m
    fences = []
    if created:  # a new tx_id may not be created meanwhile by another partition: still checked
        out.append(("EXISTS", *created))
    out += [("MSET", *pairs[j:j + 1000]) for j in range(0, len(pairs), 1000)] if pairs else []
    out += records
    x = int(args[ai]); ai += 1
    for i in range(x):
        left = int(args[ai]); ai += 1
        out.append(("ZADD", keys[ki + i], *args[ai:ai + 2 * left])); ai += 2 * left
        fences.append(keys[ki + i] + ":fence")
    ki += x
    p = int(args[ai]); ai += 3
    for i in range(p):
        out.append(("SET", keys[ki + 2 * i], args[ai])); ai += 1
    ki += 2 * p
    h = int(args[ai]); ai += 1
    for i in range(h):
        if args[ai + 1] == "":
            out.append(("ZREM", keys[ki + i], args[ai]))
        else:
            out.append(("ZADD", keys[ki + i], args[ai + 1], args[ai]))
        ai += 2
    ki += h
    f = int(args[ai]); fan_window = int(args[ai + 1]); cap = int(args[ai + 2]); ai += 4
    for i in range(f):
        key, days_key = keys[ki + 2 * i], keys[ki + 2 * i + 1]
        n2, newest = int(args[ai]), int(args[ai + 1]); ai += 2
        out.append(("ZADD", key, "GT", *args[ai:ai + 2 * n2])); ai += 2 * n2
        out.append(("ZREMRANGEBYSCORE", key, "-inf", f"({newest - fan_window}"))
        out.append(("ZREMRANGEBYRANK", key, 0, -(cap + 1)))
        out.append(("PEXPIRE", key, fan_window))
        days = int(args[ai]); ai += 1
        for _ in range(days):
            out.append(("HINCRBY", days_key, args[ai], args[ai + 1])); ai += 2
    ki += 2 * f
    o = int(args[ai]); ai += 1
    for i in range(o):
        out.append(("HSET", keys[ki + i], args[ai], args[ai + 1])); ai += 2
    ki += o
    d = int(args[ai]); ai += 1
    for i in range(d):
        out.append(("HDEL", keys[ki + i], args[ai])); ai += 1
    return ([("WATCH", *fences)] if fences else []) + [("GET", k) for k in fences] + \
        [("MULTI",)] + out + [("EXEC",)]


def plain_read(keys: list[str], args: list) -> list[tuple]:
    accounts, records, marks, risks, outboxes, destinations = (int(a) for a in args[:6])
    out: list[tuple] = [("MULTI",)]
    for j in range(0, accounts, 1000):
        out.append(("MGET", *keys[j:min(j + 1000, accounts)]))
    for j in range(accounts, accounts + records, 64):
        out.append(("EXISTS", *keys[j:min(j + 64, accounts + records)]))
    for j in range(accounts + records, accounts + records + marks):
        out.append(("GET", keys[j]))
    first = accounts + records + marks
    for j in range(first, first + risks, 64):
        out.append(("EXISTS", *keys[j:min(j + 64, first + risks)]))
    ai = 6
    for i in range(first + risks + destinations, len(keys) - outboxes):
        n = int(args[ai]); ai += 1
        for j in range(ai, ai + n):
            out.append(("ZCOUNT", keys[i], args[j], "+inf"))
        out.append(("ZMSCORE", keys[i], *args[ai + n:ai + 2 * n]))
        ai += 2 * n
    if outboxes:
        out.append(("EXISTS", *keys[len(keys) - outboxes:]))
    out.append(("EXEC",))
    return out


#: The read's fan-in part alone, as a script (hybrid-read): what stays in Lua if only the rest of
#: the read goes as plain commands (one ZCOUNT per payment is too many replies to read one by
#: one). The probe had its own copy first; the store took it up as agents/fanin.lua.
FAN_IN_LUA = (AGENTS / "fanin.lua").read_text()


def hybrid_read(keys: list[str], args: list, fan_in_sha: bytes) -> list[tuple]:
    """plain_read, the fan-in counts and times by one small script inside the MULTI."""
    accounts, records, marks, risks, outboxes, destinations = (int(a) for a in args[:6])
    out = [c for c in plain_read(keys, args) if c[0] not in ("ZCOUNT", "ZMSCORE", "EXEC")]
    first = accounts + records + marks
    fan_keys = keys[first + risks + destinations:len(keys) - outboxes]
    ai, fan_args = 6, []
    for _ in fan_keys:
        n = int(args[ai])
        fan_args += args[ai:ai + 1 + 2 * n]
        ai += 1 + 2 * n
    if fan_keys:
        out.insert(-1 if outboxes else len(out),
                   ("EVALSHA", fan_in_sha, len(fan_keys), *fan_keys, *fan_args))
    return out + [("EXEC",)]


def run(way: str, batches: list) -> tuple[float, float]:
    home = Path(tempfile.mkdtemp(prefix="plain-probe-"))
    (home / "redis.conf").write_text(
        f"port {PORT}\nbind 127.0.0.1\ndir {home}\nappendonly yes\nappendfsync always\n"
        f"save \"\"\nauto-aof-rewrite-percentage 0\n")
    server = subprocess.Popen(["redis-server", str(home / "redis.conf")],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                conn = Conn()
                break
            except OSError:
                time.sleep(0.05)
        if way == "noop":
            shas = {s: conn.call("SCRIPT", "LOAD", "return 1") for s in ("read", "commit")}
        else:
            shas = {s: conn.call("SCRIPT", "LOAD", (AGENTS / f"{s}.lua").read_text())
                    for s in ("read", "commit")}
        shas["fan-in"] = conn.call("SCRIPT", "LOAD", FAN_IN_LUA)
        before, started = cpu_s(server.pid), time.monotonic()
        for script, keys, args in batches:
            if way == "hybrid-read" and script == "read":
                conn.send(hybrid_read(keys, args, shas["fan-in"]))
            elif way == "plain" or way == f"plain-{script}":
                conn.send((plain_read if script == "read" else plain_commit)(keys, args))
            else:
                reply = conn.call("EVALSHA", shas[script], len(keys), *keys, *args)
                if way == "lua" and script == "commit" and reply != b"ok":
                    raise RuntimeError(f"the replay diverged: {reply!r}")
        return cpu_s(server.pid) - before, time.monotonic() - started
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(home)


WAYS = ("lua", "plain", "noop", "plain-read", "plain-commit", "hybrid-read")


def main() -> None:
    batches = []
    with open(sys.argv[1], "rb") as f:
        while True:
            try:
                batches.append(pickle.load(f))
            except EOFError:
                break
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"{sum(1 for b in batches if b[0] == 'read')} reads, "
          f"{sum(1 for b in batches if b[0] == 'commit')} commits")
    for r in range(rounds):
        for way in WAYS:
            cpu, wall = run(way, batches)
            print(f"round {r + 1} {way:5s} redis-server CPU {cpu:6.2f} s  wall {wall:6.2f} s",
                  flush=True)


if __name__ == "__main__":
    main()
