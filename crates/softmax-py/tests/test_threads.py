"""The GIL is released while the kernels run: another Python thread keeps running meanwhile."""

import threading
import time

import numpy as np
import softmax_rs


def test_another_thread_runs_during_a_long_call():
    # 4·10⁶ float64 at a temperature (the exact portable path, not the vector kernels): a call
    # of ~0.1–1 s.
    x = np.random.default_rng(0).standard_normal((400, 10_000))
    started, finished = threading.Event(), threading.Event()
    call = {}

    def worker():
        started.set()
        t0 = time.perf_counter()
        softmax_rs.log_softmax(x, temperature=0.75)
        call["seconds"] = time.perf_counter() - t0
        finished.set()

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    # Count iterations of a pure-Python loop, and the longest pause between two of them. Were
    # the GIL held during the call, this thread could not run at all for its whole duration.
    beats, longest_pause, last = 0, 0.0, time.perf_counter()
    while not finished.is_set():
        now = time.perf_counter()
        longest_pause = max(longest_pause, now - last)
        last = now
        beats += 1
    thread.join()
    duration = call["seconds"]
    assert duration > 0.05, f"the call took {duration:.3f} s: too short to tell"
    assert beats > 1000, f"only {beats} iterations ran beside a {duration:.3f} s call"
    assert longest_pause < duration / 2, f"paused {longest_pause:.3f} s during a {duration:.3f} s call"


def test_threads_compute_the_same_results():
    x = np.random.default_rng(1).standard_normal((64, 1000)).astype(np.float32)
    want = softmax_rs.softmax(x)
    results = [None] * 4

    def work(i):
        results[i] = softmax_rs.softmax(x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)
