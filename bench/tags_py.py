"""graphite-web's default TagDB (LocalDatabaseTagDB on a SQLite file, run in-process) on the
series and queries bench_tags wrote: tag_multi_series rate, then the median time of each query.

Usage (the system python with Debian's graphite-web): tags_py.py <series file> <n> <queries file> <work dir>
Prints JSON: {"insert_per_s": ..., "queries": [{"median_s": ..., "results": ...}, ...]}.
"""
import json
import os
import sys
import time

import django
from django.conf import settings

series_file, n, queries_file, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
db_path = os.path.join(work, "graphite-tags.db")
if os.path.exists(db_path):
    os.remove(db_path)
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
    INSTALLED_APPS=["graphite.tags"],
    TAGDB_AUTOCOMPLETE_LIMIT=100,
    TAGDB_CACHE_DURATION=0,
    USE_TZ=False,
)
django.setup()
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, run_syncdb=True)
from graphite.tags.localdatabase import LocalDatabaseTagDB  # noqa: E402

db = LocalDatabaseTagDB(settings)
with open(series_file) as f:
    names = [next(f).rstrip("\n") for _ in range(n)]
with open(queries_file) as f:
    queries = json.load(f)

# carbon posts new series to /tags/tagMultiSeries in batches; the view calls tag_multi_series.
BATCH = 1000
t0 = time.perf_counter()
for i in range(0, n, BATCH):
    db.tag_multi_series(names[i:i + BATCH])
insert_s = time.perf_counter() - t0
sys.stderr.write("graphite-web: %d series tagged in %.1f s\n" % (n, insert_s))


def answer(q):
    _, kind, exprs, tag, prefix = q
    if kind == "find":
        return db.find_series(exprs)
    if kind == "ac_tags":
        return db.auto_complete_tags(exprs, tagPrefix=prefix)
    return db.auto_complete_values(exprs, tag, valuePrefix=prefix)


out = []
for q in queries:
    results = len(answer(q))
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < 2.0 and len(times) < 200):
        t = time.perf_counter()
        answer(q)
        times.append(time.perf_counter() - t)
    times.sort()
    out.append({"median_s": times[len(times) // 2], "results": results})
    sys.stderr.write("graphite-web: %s: %d results, %.2f ms\n" % (q[0], results, times[len(times) // 2] * 1e3))
json.dump({"insert_per_s": n / insert_s, "queries": out}, sys.stdout)
