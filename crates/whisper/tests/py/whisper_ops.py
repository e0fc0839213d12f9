"""Drives python whisper for the Rust compatibility tests.

Reads a JSON job from argv[1]: a list of cases, each with create params, ops and fetch
queries. Floats travel as 16-hex-digit IEEE-754 bit patterns so nothing is lost. For each
case it creates `<dir>/py_<i>.wsp`, applies the ops with explicit `now`, and records
per-op errors plus fetch results on its own file and on the Rust-written `<dir>/rs_<i>.wsp`.
Writes the results as JSON to argv[2].
"""
import json
import os
import struct
import sys

import whisper


def f(h):
    return struct.unpack('!d', bytes.fromhex(h))[0]


def h(x):
    return struct.pack('!d', x).hex()


def fetch_all(path, queries):
    out = []
    for q in queries:
        try:
            r = whisper.fetch(path, q['from'], q['until'], now=q['now'])
        except whisper.WhisperException as e:
            out.append({'error': type(e).__name__})
            continue
        if r is None:
            out.append(None)
            continue
        (start, end, step), values = r
        out.append({'timeInfo': [start, end, step],
                    'values': [None if v is None else h(v) for v in values]})
    return out


def main():
    job = json.load(open(sys.argv[1]))
    d = job['dir']
    results = []
    for i, case in enumerate(job['cases']):
        path = os.path.join(d, 'py_%d.wsp' % i)
        whisper.create(path, [tuple(a) for a in case['archives']],
                       xFilesFactor=case['xff'], aggregationMethod=case['method'])
        errors = []
        for op in case['ops']:
            try:
                if op['op'] == 'update':
                    whisper.update(path, f(op['value']), op['timestamp'], now=op['now'])
                else:
                    whisper.update_many(path, [(t, f(v)) for t, v in op['points']], now=op['now'])
                errors.append(None)
            except whisper.WhisperException as e:
                errors.append(type(e).__name__)
        rs_path = os.path.join(d, 'rs_%d.wsp' % i)
        results.append({'errors': errors,
                        'fetch_py': fetch_all(path, case['fetches']),
                        'fetch_rs': fetch_all(rs_path, case['fetches']) if os.path.exists(rs_path) else None})
    json.dump(results, open(sys.argv[2], 'w'))


main()
