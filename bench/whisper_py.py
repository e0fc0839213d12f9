"""Python whisper side of bench/whisper.sh: the same workloads as bench_whisper.rs.

usage: whisper_py.py DIR (DIR/fill prepared by `bench_whisper prepare DIR`)  -> prints "<workload> <ops/s> <user CPU us/op> <system CPU us/op>" lines.
"""
import os
import resource
import sys
import time

import whisper

NOW = 1700000000
SCHEMA = [(10, 2160), (60, 10080), (600, 262800)]  # 10s:6h,1m:7d,10m:5y


class Timer:
    """Wall time plus user and system CPU time of this process for one workload."""

    def __init__(self):
        self.t, self.cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    def report(self, name, ops):
        wall = time.perf_counter() - self.t
        now = resource.getrusage(resource.RUSAGE_SELF)
        user, system = now.ru_utime - self.cpu.ru_utime, now.ru_stime - self.cpu.ru_stime
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
    few = make(os.path.join(base, 'b'), 1000)
    pts = [(NOW - 590 + 10 * k, float(k)) for k in range(60)]

    # Cold: the path-taking calls open and close the file each time.
    t = Timer()
    for i, p in enumerate(many):
        whisper.update_many(p, [(NOW, float(i))], now=NOW)
    t.report('update_many_1pt_x10000@cold', 10000)

    t = Timer()
    for p in few:
        whisper.update_many(p, pts, now=NOW)
    t.report('update_many_60pt_x1000@cold', 1000)

    full = [os.path.join(base, 'fill', 'm%05d.wsp' % i) for i in range(10000)]
    t = Timer()
    n = 0
    for p in full:
        r = whisper.fetch(p, NOW - 86400, NOW, now=NOW)
        n += len(r[1])
    t.report('fetch_1day_x10000@cold', 10000)
    assert n == 10000 * 1440, n

    # Warm: file objects opened and used once before the clock starts (file_update_many / file_fetch).
    hs = [open(p, 'r+b') for p in many]
    for i, fh in enumerate(hs):  # one untimed pass, as on the Rust side
        whisper.file_update_many(fh, [(NOW, float(i))], now=NOW)
    t = Timer()
    for i, fh in enumerate(hs):
        whisper.file_update_many(fh, [(NOW, float(i))], now=NOW)
    t.report('update_many_1pt_x10000@warm-fd', 10000)

    fs = [open(p, 'r+b') for p in few]
    for fh in fs:
        whisper.file_update_many(fh, pts, now=NOW)
    t = Timer()
    for fh in fs:
        whisper.file_update_many(fh, pts, now=NOW)
    t.report('update_many_60pt_x1000@warm-fd', 1000)
    for fh in fs:
        fh.close()

    for fh in hs:
        fh.close()
    rs = [open(p, 'rb') for p in full]
    for fh in rs:  # untimed pass
        whisper.file_fetch(fh, NOW - 86400, NOW, now=NOW)
    t = Timer()
    n = 0
    for fh in rs:
        r = whisper.file_fetch(fh, NOW - 86400, NOW, now=NOW)
        n += len(r[1])
    t.report('fetch_1day_x10000@warm-fd', 10000)
    assert n == 10000 * 1440, n
    for fh in rs:
        fh.close()
    sys.stdout.flush()


main()
