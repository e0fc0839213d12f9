"""Python whisper side of bench/whisper.sh: the same workloads as bench_whisper.rs.

usage: whisper_py.py DIR  -> prints "<workload> <operations per second>" lines.
"""
import os
import sys
import time

import whisper

NOW = 1700000000
SCHEMA = [(10, 2160), (60, 10080), (600, 262800)]  # 10s:6h,1m:7d,10m:5y


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
    t = time.perf_counter()
    for i, p in enumerate(many):
        whisper.update_many(p, [(NOW, float(i))], now=NOW)
    print('update_many_1pt_x10000', 10000 / (time.perf_counter() - t))

    few = make(os.path.join(base, 'b'), 1000)
    pts = [(NOW - 590 + 10 * k, float(k)) for k in range(60)]
    t = time.perf_counter()
    for p in few:
        whisper.update_many(p, pts, now=NOW)
    print('update_many_60pt_x1000', 1000 / (time.perf_counter() - t))

    t = time.perf_counter()
    n = 0
    for p in many:
        r = whisper.fetch(p, NOW - 86400, NOW, now=NOW)
        n += len(r[1])
    print('fetch_1day_x10000', 10000 / (time.perf_counter() - t))
    sys.stdout.flush()


main()
