#!/usr/bin/env python3
"""Parses a Prometheus text exposition file with prometheus_client's own
parser (the reference Python implementation) and checks it against
expectations; the metrics tests run it on pulsarc_client_metrics' output.

  check_prom_text.py FILE [--family NAME=TYPE ...] [--sample 'NAME{k=v,...}=VALUE' ...]
                          [--absent NAME ...]

--family  a family of that name and type exists (the name as the parser
          reports it: counters without _total, histograms without _bucket)
--sample  a sample with exactly these labels and this value (floats
          compared to 1e-9 relative)
--absent  no family of that name
Always: every histogram series has cumulative buckets, le="+Inf" present
and equal to _count, and no sample is negative.
Exit status: 0 all good, 1 a check failed (each printed), 2 no parser.
"""
import argparse
import collections
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("check_prom_text: the prometheus_client Python package is missing "
          "(Debian: python3-prometheus-client; tools/install-deps.sh installs it)",
          file=sys.stderr)
    sys.exit(2)


def parse_sample(spec):
    name, _, rest = spec.partition("{")
    labels = {}
    if rest:
        body, _, value = rest.rpartition("}=")
        for kv in filter(None, body.split(",")):
            k, _, v = kv.partition("=")
            labels[k] = v
    else:
        name, _, value = spec.partition("=")
    return name, labels, float(value)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--family", action="append", default=[])
    ap.add_argument("--sample", action="append", default=[])
    ap.add_argument("--absent", action="append", default=[])
    a = ap.parse_args()
    with open(a.file, encoding="utf-8") as f:
        text = f.read()
    problems = []
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own error is the finding
        print("check_prom_text: parser rejected the text: %r" % (e,))
        return 1
    by_name = {fam.name: fam for fam in families}
    samples = [s for fam in families for s in fam.samples]

    for spec in a.family:
        name, _, typ = spec.partition("=")
        fam = by_name.get(name)
        if fam is None:
            problems.append("no family %s" % name)
        elif fam.type != typ:
            problems.append("family %s has type %s, expected %s" % (name, fam.type, typ))
    for name in a.absent:
        if name in by_name:
            problems.append("family %s should be absent" % name)
    for spec in a.sample:
        name, labels, value = parse_sample(spec)
        hits = [s for s in samples if s.name == name and s.labels == labels]
        if len(hits) != 1:
            problems.append("%d samples %s%s, expected 1" % (len(hits), name, labels))
        elif not math.isclose(hits[0].value, value, rel_tol=1e-9, abs_tol=1e-12):
            problems.append("%s%s = %r, expected %r" % (name, labels, hits[0].value, value))

    for s in samples:
        if s.value < 0 or math.isnan(s.value):
            problems.append("negative or NaN sample %s%s = %r" % (s.name, s.labels, s.value))
    for fam in families:
        if fam.type != "histogram":
            continue
        series = collections.defaultdict(lambda: {"buckets": [], "count": None})
        for s in fam.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, h in series.items():
            b = h["buckets"]
            if [le for le, _ in b] != sorted(le for le, _ in b):
                problems.append("%s%s: buckets not in le order" % (fam.name, key))
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                problems.append("%s%s: buckets not cumulative" % (fam.name, key))
            if not b or not math.isinf(b[-1][0]):
                problems.append("%s%s: no le=+Inf bucket" % (fam.name, key))
            elif h["count"] != b[-1][1]:
                problems.append("%s%s: _count %r != +Inf bucket %r"
                                % (fam.name, key, h["count"], b[-1][1]))

    for p in problems:
        print("check_prom_text: " + p)
    if not problems:
        print("check_prom_text: %d families, %d samples, all checks passed"
              % (len(families), len(samples)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
