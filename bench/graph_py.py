#!/usr/bin/env python3
"""graphite-web's renderer (Debian's glyph.py, cairo) on bench_graph's workloads, in-process:
the same series built as TimeSeries and drawn with LineGraph, timed per render.
Usage: /usr/bin/python3 bench/graph_py.py [repetitions] -> lines 'workload wall_seconds cpu_seconds'"""
import os, sys, time, tempfile, collections, inspect, warnings
warnings.simplefilter("ignore")
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
store = tempfile.mkdtemp(prefix="graph-bench-")
os.makedirs(os.path.join(store, "log", "webapp"))
os.environ["GRAPHITE_STORAGE_DIR"] = store
import django; django.setup()
from graphite.render.glyph import LineGraph
from graphite.render.datalib import TimeSeries
from io import BytesIO

START = 1700000000
def data(n, points):
    out = []
    for k in range(n):
        vals = [None if (i + k) % 97 == 0 else float((i * (k % 7 + 1) + k * 13) % 101) + k * 0.5 for i in range(points)]
        out.append(TimeSeries("servers.host%04d.cpu.user" % k, START, START + 60 * points, 60, vals))
    return out

def run(label, reps, n, points, fmt, **opts):
    def once():
        g = LineGraph(data=data(n, points), width=800, height=600, outputFormat=fmt, **opts)
        buf = BytesIO(); g.output(buf); return len(buf.getvalue())
    once()
    # series are rebuilt for every render (stacking changes them); time that part apart
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps): data(n, points)
    build, cbuild = (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps): once()
    secs = (time.perf_counter() - t0) / reps - build
    cpu = (time.process_time() - c0) / reps - cbuild
    print("%s %.6f %.6f" % (label, secs, cpu)); sys.stdout.flush()

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
run("lines_1000_png", reps, 1000, 360, "png")
run("lines_1000_svg", reps, 1000, 360, "svg")
run("stacked_20_png", reps, 20, 360, "png", areaMode="stacked")
run("stacked_20_svg", reps, 20, 360, "svg", areaMode="stacked")
