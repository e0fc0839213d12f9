#!/usr/bin/env python3
"""Side-by-side gallery: the same /render requests over the same whisper data, answered by
Debian's graphite-web (in-process, Django test client, cairo) and by a real `carbonado serve`.

Usage (from the workspace root):
  CARGO_TARGET_DIR=/work/target-graph cargo build -p carbonado
  /usr/bin/python3 crates/graph/gallery/gen_gallery.py /work/target-graph/debug/carbonado docs

Writes DOCS/img/gallery/<case>-graphite.png, <case>-carbonado.png and DOCS/gallery.md."""
import os, sys, time, shutil, socket, subprocess, tempfile, urllib.request, urllib.error, urllib.parse, collections, inspect

FAKE_NOW = 1700003600
T0 = 1700000000
time.time = lambda: float(FAKE_NOW)  # whisper picks archives relative to now
if not hasattr(inspect, "getargspec"):
    _AS = collections.namedtuple("ArgSpec", "args varargs keywords defaults")
    inspect.getargspec = lambda f: _AS(*inspect.getfullargspec(f)[:4])

carbonado, docs = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
work = tempfile.mkdtemp(prefix="gallery-")
store = os.path.join(work, "store")
wsp = os.path.join(store, "whisper")
os.makedirs(wsp); os.makedirs(os.path.join(store, "log", "webapp"))
os.environ["GRAPHITE_STORAGE_DIR"] = store
import whisper

def mk(name, archives, points, agg="average", xff=0.5):
    p = os.path.join(wsp, *name.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(p), exist_ok=True)
    whisper.create(p, archives, xFilesFactor=xff, aggregationMethod=agg)
    whisper.update_many(p, points, now=FAKE_NOW)

start = T0 - 7200
for si, host in enumerate(["web01", "web02", "db01"]):
    for mi, m in enumerate(["user", "system"]):
        pts = []
        for i, ts in enumerate(range(start, FAKE_NOW + 1, 60)):
            if (i + si) % 23 == 3: continue  # occasional gaps
            pts.append((ts, float((i * (si + 1) + mi * 5) % 17 + si * 10 + 5 * ((i // 30) % 3))))
        mk("test.servers.%s.cpu.%s" % (host, m), [(60, 1440)], pts)
cnt, pts = 0.0, []
for i, ts in enumerate(range(start, FAKE_NOW + 1, 60)):
    cnt += 3000 + (i % 5) * 600
    pts.append((ts, cnt))
mk("test.counters.req.count", [(60, 1440)], pts, agg="sum")
pts = [(ts, float(2 ** 20 * (1 + (ts // 60) % 13))) for ts in range(start, FAKE_NOW + 1, 60)]
mk("test.disk.bytes", [(60, 1440)], pts)

# Debian's /etc/graphite/local_settings.py points at /var/lib/graphite: use our own instead
with open(os.path.join(work, "gallery_settings.py"), "w") as f:
    f.write("SECRET_KEY = 'gallery'\nTIME_ZONE = 'UTC'\nSTORAGE_DIR = %r\nWHISPER_DIR = %r\nLOG_DIR = %r\n"
            % (store, wsp, os.path.join(store, "log", "webapp")))
sys.path.insert(0, work)
os.environ["GRAPHITE_SETTINGS_MODULE"] = "gallery_settings"
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from django.test import Client
client = Client()

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

port = free_port()
cfg = os.path.join(work, "carbonado.toml")
with open(cfg, "w") as f:
    f.write('[cache]\nenabled = false\n\n[web]\nenabled = true\nlisten = "127.0.0.1:%d"\nlocal_data_dir = "%s"\n'
            'default_cache_duration = 0\ncarbonlink_hosts = []\n' % (port, wsp))
server = subprocess.Popen([carbonado, "serve", "--config", cfg], cwd=work,
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "server.log"), "w"))
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/version" % port, timeout=1).read(); break
    except Exception:
        time.sleep(0.1)
else:
    server.kill(); sys.exit("carbonado did not start: " + open(os.path.join(work, "server.log")).read())

RANGE = [("from", str(T0 - 7200)), ("until", str(FAKE_NOW)), ("now", str(FAKE_NOW)), ("format", "png")]
T = "target"
CASES = [
    ("basic", "three series, defaults", [(T, "test.servers.*.cpu.user")]),
    ("title", "title, vtitle, two-column legend", [(T, "test.servers.web01.cpu.*"), ("title", "web01 CPU"), ("vtitle", "percent")]),
    ("stacked", "areaMode=stacked", [(T, "test.servers.*.cpu.user"), ("areaMode", "stacked")]),
    ("area-alpha", "areaMode=all, areaAlpha=0.4", [(T, "test.servers.web0*.cpu.user"), ("areaMode", "all"), ("areaAlpha", "0.4")]),
    ("second-axis", "secondYAxis() with SI prefixes on the right", [(T, "test.servers.web01.cpu.user"), (T, "secondYAxis(test.counters.req.count)")]),
    ("si-prefix", "large values: SI prefixes", [(T, "test.counters.req.count"), ("width", "420")]),
    ("binary", "yUnitSystem=binary", [(T, "test.disk.bytes"), ("yUnitSystem", "binary"), ("lineWidth", "2")]),
    ("dark", "black background, colorList, fontSize", [(T, "test.servers.*.cpu.system"), ("bgcolor", "black"), ("fgcolor", "white"),
              ("majorGridLineColor", "darkgrey"), ("minorGridLineColor", "333333"), ("colorList", "orange,cyan,magenta"), ("fontSize", "8")]),
    ("staircase", "lineMode=staircase, lineWidth=2", [(T, "summarize(test.servers.web01.cpu.user,'15min','avg')"), ("lineMode", "staircase"), ("lineWidth", "2")]),
    ("functions", "color(), dashed(), lineWidth(), alias()", [(T, "color(alias(test.servers.web01.cpu.user,'user'),'red')"),
              (T, "dashed(alias(test.servers.web01.cpu.system,'system'))"), (T, "lineWidth(alias(test.servers.db01.cpu.user,'db'),3)")]),
    ("infinite", "drawAsInfinite() events over a line", [(T, "test.servers.web02.cpu.user"), (T, "drawAsInfinite(removeBelowValue(test.servers.web01.cpu.user,24))")]),
    ("cacti", "cactiStyle() legend", [(T, "cactiStyle(test.servers.web0*.cpu.user)"), ("width", "500")]),
    ("stacked-fn", "stacked() function with a line on top", [(T, "stacked(test.servers.web0*.cpu.user)"), (T, "test.servers.db01.cpu.user")]),
    ("log", "logBase=10", [(T, "scale(offset(test.servers.*.cpu.user,1),100)"), ("logBase", "10")]),
    ("wide", "800x300, yMin/yMax, minorY=3, hideLegend", [(T, "test.servers.*.cpu.*"), ("width", "800"), ("height", "300"), ("yMin", "0"),
              ("yMax", "60"), ("minorY", "3"), ("hideLegend", "true")]),
    ("graph-only", "graphOnly sparkline", [(T, "test.servers.web01.cpu.user"), ("graphOnly", "true"), ("width", "200"), ("height", "60")]),
    ("pie", "graphType=pie, pieMode=average", [(T, "test.servers.*.cpu.user"), ("graphType", "pie"), ("pieMode", "average")]),
    ("null-zero", "drawNullAsZero, connected lines", [(T, "removeBelowValue(test.servers.web01.cpu.user,12)"), ("drawNullAsZero", "true")]),
]

imgdir = os.path.join(docs, "img", "gallery")
os.makedirs(imgdir, exist_ok=True)
rows = []
try:
    for name, what, params in CASES:
        params = params + RANGE
        qs = urllib.parse.urlencode(params)
        r = client.get("/render?" + qs)
        if r.status_code != 200:
            sys.exit("graphite-web %s: %s %s" % (name, r.status_code, r.content[:300]))
        open(os.path.join(imgdir, name + "-graphite.png"), "wb").write(r.content)
        t = time.perf_counter()
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/render?%s" % (port, qs), timeout=30).read()
        except urllib.error.HTTPError as e:
            sys.exit("carbonado %s: %s %s" % (name, e.code, e.read()[:300]))
        open(os.path.join(imgdir, name + "-carbonado.png"), "wb").write(body)
        shown = "&".join("%s=%s" % (k, v) for k, v in params if k not in ("from", "until", "now", "format"))
        rows.append((name, what, shown))
        print("ok", name)
finally:
    server.kill(); server.wait()
    shutil.rmtree(work, ignore_errors=True)

with open(os.path.join(docs, "gallery.md"), "w") as f:
    f.write("# Graph gallery: graphite-web vs Carbonado\n\n"
            "Each row is one `/render` request over the same whisper files: left, Debian's graphite-web 1.1.8\n"
            "(cairo, run in-process through Django's test client); right, `carbonado serve` (pure Rust, tiny-skia and a\n"
            "bundled DejaVu Sans). Every request also carries `from=%d&until=%d&now=%d&format=png`.\n\n"
            "Regenerate (from the workspace root):\n\n"
            "```sh\nCARGO_TARGET_DIR=/work/target-graph cargo build -p carbonado\n"
            "/usr/bin/python3 crates/graph/gallery/gen_gallery.py /work/target-graph/debug/carbonado docs\n```\n\n"
            % (T0 - 7200, FAKE_NOW, FAKE_NOW))
    f.write("| request | graphite-web | Carbonado |\n|---|---|---|\n")
    for name, what, shown in rows:
        f.write("| **%s**: %s<br>`%s` | ![graphite %s](img/gallery/%s-graphite.png) | ![carbonado %s](img/gallery/%s-carbonado.png) |\n"
                % (name, what, shown.replace("|", "\\|"), name, name, name, name))
