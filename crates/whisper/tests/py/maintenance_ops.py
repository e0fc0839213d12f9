"""Drives python whisper's maintenance paths for the Rust compatibility tests.

argv[1]: a JSON job {"now": N, "ops": [...]}; each op names files already present (python's own
copies) and is one of: resize (runs whisper-resize.py's own code with time pinned), fill (runs
whisper-fill.py's code), merge, diff (whisper library calls with `now`). Writes per-op results
(diff output, errors) as JSON to argv[2].
"""
import contextlib
import io
import json
import os
import runpy
import sys
import time

import whisper

job = json.load(open(sys.argv[1]))
NOW = job['now']
BIN = os.path.dirname(sys.executable)
time.time = lambda: NOW


def run_script(name, argv):
    saved = sys.argv
    sys.argv = [name] + argv
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(os.path.join(BIN, name), run_name='__main__')
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    finally:
        sys.argv = saved
    return out.getvalue()


results = []
for op in job['ops']:
    kind = op['op']
    try:
        if kind == 'resize':
            argv = [op['path']] + op['archives'] + op['flags']
            results.append({'out': run_script('whisper-resize.py', argv)})
        elif kind == 'fill':
            run_script('whisper-fill.py', [op['src'], op['dst']])
            results.append({})
        elif kind == 'merge':
            whisper.merge(op['src'], op['dst'], op.get('from'), op.get('until'), now=NOW)
            results.append({})
        elif kind == 'diff':
            d = whisper.diff(op['src'], op['dst'], ignore_empty=op['ignore_empty'], until_time=op.get('until'), now=NOW)
            results.append({'diff': [[a, [[t, None if x is None else repr(x), None if y is None else repr(y)] for t, x, y in pts], total] for a, pts, total in d]})
    except Exception as e:  # recorded, compared with ours
        results.append({'error': type(e).__name__})
json.dump(results, open(sys.argv[2], 'w'))
