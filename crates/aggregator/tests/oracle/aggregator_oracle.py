"""Drives Debian carbon's aggregator classes (RuleManager, AggregationProcessor, BufferManager)
in-process with a fake clock, and prints every aggregate they emit.

Input (JSON on stdin): {"rules": "<aggregation-rules.conf text>", "max_intervals": N,
"write_back": N|null, "end": T, "points": [[arrival, metric, timestamp, value], ...]}
sorted by arrival. The clock starts at the first arrival and advances one second at a time so
every LoopingCall fires exactly when the real reactor would fire it.
Output (JSON on stdout): {"emitted": [[now, metric, timestamp, value]], "forwarded": [[now, metric]]}.
"""
import json
import os
import sys
import tempfile

from twisted.internet import task

clock = task.Clock()


class FakeTime:
    @staticmethod
    def time():
        return clock.seconds()


class ClockedLoopingCall(task.LoopingCall):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.clock = clock


from carbon.conf import settings  # noqa: E402
from carbon import state, events  # noqa: E402
import carbon.aggregator.buffers as buffers  # noqa: E402

buffers.time = FakeTime
buffers.LoopingCall = ClockedLoopingCall
import carbon.aggregator.rules as rules  # noqa: E402
from carbon.aggregator.processor import AggregationProcessor  # noqa: E402


class Counters:
    def increment(self, *a, **kw):
        pass


state.instrumentation = Counters()
state.events = events

job = json.load(sys.stdin)
settings['MAX_AGGREGATION_INTERVALS'] = job['max_intervals']
settings['WRITE_BACK_FREQUENCY'] = job['write_back']
settings['FORWARD_ALL'] = True
settings['LOG_AGGREGATOR_MISSES'] = False

with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as f:
    f.write(job['rules'])
rules.RuleManager.rules_file = f.name
rules.RuleManager.read_rules()
os.unlink(f.name)

emitted = []
forwarded = []
events.metricGenerated.addHandler(
    lambda metric, dp: emitted.append([int(clock.seconds()), metric, dp[0], dp[1]]))
proc = AggregationProcessor()

points = job['points']
i = 0
now = points[0][0] if points else 0
clock.advance(now)
while now <= job['end']:
    while i < len(points) and points[i][0] <= now:
        _, metric, ts, value = points[i]
        for m, _dp in proc.process(metric, (ts, value)):
            forwarded.append([now, m])
        i += 1
    now += 1
    clock.advance(1)

json.dump({'emitted': emitted, 'forwarded': forwarded}, sys.stdout)
