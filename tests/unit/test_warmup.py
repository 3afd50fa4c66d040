"""The bench's broker warm-up stops once the JVM's JIT compilers are nearly idle."""

from loadtest.procstat import threads_cpu_s
from loadtest.warmup import is_warm


def test_warm_once_a_window_spends_under_5_percent_in_the_compilers() -> None:
    assert not is_warm([])
    assert not is_warm([(2.0, 0.01)])  # the first window also joins the group: never alone
    assert not is_warm([(5.0, 3.0), (4.0, 1.5)])  # still compiling
    assert is_warm([(5.0, 3.0), (4.0, 1.5), (1.0, 0.04)])
    # a broker that stays as costly but stopped compiling is warm: cost alone is not the test
    assert is_warm([(5.0, 3.0), (5.0, 0.1)])


def test_threads_cpu_counts_only_the_named_threads_of_a_process() -> None:
    import ctypes
    import os
    import threading
    import time
    from pathlib import Path

    me = Path(f"/proc/{os.getpid()}/comm").read_text().strip()  # the main thread's name
    idle, named = threading.Event(), threading.Event()

    def wait_idle() -> None:
        # Python 3.11 gives its threads no OS name of their own: prctl(PR_SET_NAME) does.
        ctypes.CDLL(None).prctl(15, b"ps-idle-thread", 0, 0, 0)
        named.set()
        idle.wait()

    sleeper = threading.Thread(target=wait_idle)
    sleeper.start()
    named.wait()
    try:
        busy_until = time.process_time() + 0.3
        while time.process_time() < busy_until:
            pass
        assert threads_cpu_s(os.getpid(), (me,)) >= 0.3
        # A thread that only waited reads its own CPU, not its process's (the main thread's
        # 0.3 s would show if a thread's figures were the whole process's).
        assert threads_cpu_s(os.getpid(), ("ps-idle-thread",)) < 0.1
        assert threads_cpu_s(os.getpid(), ("no such thread",)) == 0.0
    finally:
        idle.set()
        sleeper.join()
