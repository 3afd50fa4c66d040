"""Broker CPU: idle for 20 s, then with only the paced load generator (no workers, no sinks)."""
import os, subprocess, sys, time, uuid
sys.path.insert(0, "/work/main")
from loadtest.procstat import stack_pids, proc_cpu_s
from paystream.launch import command, environment
from streams.settings import Settings

rate, count = float(sys.argv[1]), int(sys.argv[2])
extra = sys.argv[3:]
kafka = stack_pids()["kafka"]
settings = Settings(topic_prefix=f"probe-{uuid.uuid4().hex[:6]}.")
env = environment(settings)
subprocess.run(command("topics", "create"), env=env, check=True, capture_output=True, cwd="/work/main")
time.sleep(5)
c0 = proc_cpu_s(kafka); t0 = time.monotonic(); time.sleep(20)
idle = (proc_cpu_s(kafka) - c0) / (time.monotonic() - t0)
enc = f"/tmp/probe-{os.getpid()}.bin"
subprocess.run(command("produce", "--count", str(count), "--seed", "3", "--accounts", "100000", "--encode-to", enc), env=env, check=True, capture_output=True, cwd="/work/main")
c0 = proc_cpu_s(kafka); t0 = time.monotonic()
codec = os.environ.get("PROBE_CODEC", "lz4"); linger = os.environ.get("PROBE_LINGER", "50")
p = subprocess.run([sys.executable, "-c", f"import streams.producer as p; p.PRODUCER_DEFAULTS['compression.type']='{codec}'; p.PRODUCER_DEFAULTS['linger.ms']={linger}; from paystream.cli import cli; cli(['produce','--replay','{enc}','--rate','{rate}'])"], env=env, capture_output=True, cwd="/work/main")
print("codec", codec, p.stderr.decode()[-300:])
wall = time.monotonic() - t0
busy = (proc_cpu_s(kafka) - c0)
print(f"broker idle {idle*100:.1f}% of a core; producing {count} at {rate}/s over {wall:.1f} s: broker {busy/wall*100:.1f}% of a core, {busy/count*1e6:.1f} us/tx (idle share {idle*wall/count*1e6:.1f} us/tx) rc={p.returncode}")
os.unlink(enc)
from loadtest.bench import clean_up; clean_up(settings, out=sys.stderr)
