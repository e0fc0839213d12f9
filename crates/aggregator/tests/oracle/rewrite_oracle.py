"""Applies carbon's own RewriteRule and RegexList to the cases on stdin and prints the results.

Input (JSON): {"rules": [[pattern, replacement], ...], "lists": [pattern, ...], "metrics": [...]}.
Output (JSON): {"rewritten": [[per-rule result for each metric]], "listed": [bool per metric]}.
"""
import json
import os
import sys
import tempfile

from carbon.rewrite import RewriteRule
from carbon.regexlist import RegexList

job = json.load(sys.stdin)
rewritten = []
for pattern, replacement in job["rules"]:
    rule = RewriteRule(pattern, replacement)
    rewritten.append([rule.apply(m) for m in job["metrics"]])

with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
    f.write("\n".join(job["lists"]) + "\n")
lst = RegexList()
lst.list_file = f.name
lst.read_list()
os.unlink(f.name)
listed = [m in lst for m in job["metrics"]]
json.dump({"rewritten": rewritten, "listed": listed}, sys.stdout)
