"""Python whisper side of bench/whisper.sh: the same workloads as bench_whisper.rs.

usage: whisper_py.py DIR  -> prints "<workload> <ops/s> <user CPU us/op> <system CPU us/op>" lines.
"""
import os
import sys
import time

import whisper

NOW = 1700000000
SCHEMA = [(10, 2160), (60, 10080), (600, 262800)]  # 10s:6h,1m:7d,10m:5y


class Timer:
    """Wall time plus user and system CPU time of this process for one workload."""

    def __init__(self):
        self.t, self.cpu = time.perf_counter(), os.times()

    def report(self, name, ops):
        wall = time.perf_counter() - self.t
        now = os.times()
        user, system = now.user - self.cpu.user, now.system - self.cpu.system
        print(name, ops / wall, user / ops * 1e6, system / ops * 1e6)


def make(dirname, n):
    os.makedirs(dirname, exist_ok=True)
    paths = []
    for i in range(n):
        p = os.path.join(dirname, 'm%05d.wsp' % i)
        if not os.path.exists(p):
            whisper.create(p, SCHEMA, 0.5, 'average', sparse=True)
        paths.append(p)
    return paths


def main():
    base = sys.argv[1]
    many = make(os.path.join(base, 'a'), 10000)
    t = Timer()
    for i, p in enumerate(many):
        whisper.update_many(p, [(NOW, float(i))], now=NOW)
    t.report('update_many_1pt_x10000', 10000)

    few = make(os.path.join(base, 'b'), 1000)
    pts = [(NOW - 590 + 10 * k, float(k)) for k in range(60)]
    t = Timer()
    for p in few:
        whisper.update_many(p, pts, now=NOW)
    t.report('update_many_60pt_x1000', 1000)

    t = Timer()
    n = 0
    for p in many:
        r = whisper.fetch(p, NOW - 86400, NOW, now=NOW)
        n += len(r[1])
    t.report('fetch_1day_x10000', 10000)
    sys.stdout.flush()


main()
