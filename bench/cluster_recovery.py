#!/usr/bin/env python3
"""Recovery figures beside the official client (issue 14 item 3); opt-in,
not in CI.

On ONE real cluster (tools/real-cluster/pulsar-cluster.sh, default load
manager, or the extensible one with --extensible-lm; deduplication on) every
scenario runs the same fault script (tests/cluster/cluster_faults.py's
inject(): unload, kill, rolling, split, transfer; firstdown stops broker1
before the publisher starts) twice: once against pulsarc-cluster-publish and
once against the official Python client's producer
(bench/peers/python/cluster_publish.py). Both publish --count unique
messages from 4 threads at --rate through one producer, send timeout 0,
batching 1000 / 128 KiB / 10 ms, max pending 1000, over the service URL
naming both brokers, or the proxy for a scenario written KIND@proxy
(unload@proxy); split publishes to a 16-partition topic keyed by thread. The
official client then reads each topic back (cluster_faults.read_back) and
counts duplicates and losses. --append adds the runs to OUT/results.json
(the extensible-LM cluster's transfer beside the default cluster's runs).

Per fault and client: the recovery time, from the fault (the moment the
admin command was issued) to the first receipt after the longest receipt
gap that starts within [fault - 1 s, fault + 60 s] and before the next
fault (a receipt of a message the broker already had in flight does not count as recovery), and that
gap (the worst send latency the fault caused, as seen by receipts); on the
partitioned topic (split) per partition: the longest partition's gap, and
recovery when the last stalled partition had its receipt. For
firstdown the "fault" is the publisher's start: recovery = process start to
first receipt (process and client start-up included, for both clients).

Usage: tools/interop/setup-venv.sh   (prints PY)
       PY bench/cluster_recovery.py --publisher build/tests/cluster/pulsarc-cluster-publish
          [--scenarios unload,kill,rolling,split,firstdown,unload@proxy,...]
          [--extensible-lm] [--count 100000] [--rate 5000] [--append]
          [--out bench/results/cluster-recovery-DATE] [--state-dir DIR] [--reuse] [--keep]
       PY bench/cluster_recovery.py --render DIR   (rewrite DIR/summary.md)
Writes OUT/results.json and OUT/summary.md; the clients' logs stay in
STATE/scenarios.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from clusterlib import Cluster, ClusterError, log  # noqa: E402
from cluster_faults import (SPLIT_PARTITIONS, Publisher, after, check_readback,  # noqa: E402
                            inject, owner_summary, owners, read_back)

CLIENTS = ("pulsarc", "official")


class OfficialPublisher(Publisher):
    """The official Python producer, driven exactly like pulsarc's."""

    def command(self, path, url, topic, count, rate, name, log_level, extra):
        self.log = self.log.replace(".pulsarc.log", ".official.log")
        return [sys.executable, os.path.join(HERE, "peers", "python", "cluster_publish.py"),
                *super().command(path, url, topic, count, rate, name, log_level, extra)[1:]]

    def registrations(self):
        """Realtime seconds of each producer creation (the C++ core's INFO log,
        local time)."""
        regs = []
        with open(self.log) as f:
            for line in f:
                if "Created producer on broker" in line:
                    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", line)
                    if m:
                        regs.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                                    .timestamp())
        return regs


def outage(times, t, t_next):
    """(longest receipt gap starting in [t - 1, min(t + 60, t_next)), the
    receipt ending it); t_next: the next fault (its own outage is not this one's)."""
    best = (0.0, None)
    for x, b in zip(times, times[1:]):
        if t - 1 <= x < min(t + 60, t_next) and b - x > best[0]:
            best = (b - x, b)
    return best


def partition_times(receipts_file):
    """{partition: sorted receipt times} from a publisher's --out file."""
    per = {}
    with open(receipts_file) as f:
        for line in f:
            _, _, ns, mid, _ = line.split()
            per.setdefault(int(mid.split(":")[2]), []).append(int(ns) / 1e9)
    return {p: sorted(ts) for p, ts in per.items()}


def partition_outage(per, t, t_next):
    """outage() per partition: (the longest of the partitions' gaps, the
    latest receipt ending one). On a partitioned topic the merged receipt
    stream hides a stalled partition while another one still gets receipts."""
    gaps = [outage(ts, t, t_next) for ts in per.values()]
    ends = [end for _, end in gaps if end]
    return max(g for g, _ in gaps), max(ends) if ends else None


def fault_rows(faults, times, per, regs):
    """One row per fault; per: {partition: times} for a partitioned topic, else None."""
    rows = []
    for k, (label, t) in enumerate(faults):
        t_next = faults[k + 1][1] if k + 1 < len(faults) else t + 60
        gap, end = partition_outage(per, t, t_next) if per else outage(times, t, t_next)
        reg = after(regs, t)
        rows.append({"fault": label, "t": t,
                     "receipts_before": sum(1 for x in times if x < t),
                     "recovery_ms": round((end - t) * 1000) if end else None,
                     "worst_gap_ms": round(gap * 1000),
                     "reregistered_ms": round((reg - t) * 1000) if reg else None})
    return rows


def run_one(cl, a, spec, client):
    kind, _, via = spec.partition("@")
    via = via or a.via
    topic = f"persistent://public/default/recovery-{kind}-{client}-{uuid.uuid4().hex[:8]}"
    workdir = os.path.join(cl.dir, "scenarios")
    os.makedirs(workdir, exist_ok=True)
    nparts = SPLIT_PARTITIONS if kind == "split" else 0
    if nparts:
        cl.run("create-partitioned", topic, str(nparts))
    if kind == "firstdown":
        cl.run("stop", "broker1", timeout=300)
    own = owners(cl, topic, nparts)
    if nparts and len(set(own.values())) < 2:
        cl.run("split-bundle", "public/default")  # spread the partitions, as cluster_faults
        own = owners(cl, topic, nparts)
    owner_before = owner_summary(own)
    rate = a.rolling_rate if kind == "rolling" else a.rate
    cls = Publisher if client == "pulsarc" else OfficialPublisher
    t_start = time.time()
    pub = cls(a.publisher, cl.url(via), topic, a.count, rate, workdir,
              f"recovery-{kind}-{via}-{client}-{os.getpid()}",
              "debug" if client == "pulsarc" else "info",
              extra=["--key-by-thread", "1"] if nparts else [])
    log(f"[{spec}/{client}] topic {topic} owned by {owner_before}; rate {rate}/s via {via}")
    try:
        faults, killed = inject(cl, a, kind, topic, pub)
        times, parts = pub.finish(timeout_s=900)
    except BaseException:
        pub.proc.kill()
        raise
    publish_s = time.time() - t_start
    owner_after = owner_summary(owners(cl, topic, nparts))
    regs = pub.registrations()
    if killed or kind == "firstdown":
        log(f"[{spec}/{client}] restarting {killed or 'broker1'}")
        cl.run("restart", killed or "broker1", timeout=300)
    got, _ = read_back(cl, topic, nparts, parts, pub.total)
    dups, lost, disorder = check_readback(got, pub.total)
    n_receipts = len(times)
    if kind == "firstdown":
        # the outage is the start itself: process start to first receipt
        faults = [(f"broker1 down at start ({via})", t_start)]
        times = [t_start] + times
    rows = fault_rows(faults, times, partition_times(pub.out) if nparts else None, regs)
    res = {"scenario": spec, "client": client, "topic": topic, "rate": rate, "via": via,
           "load_manager": "extensible" if a.extensible_lm else "modular",
           "sent": pub.total, "receipts": n_receipts, "received": len(got),
           "duplicates": dups, "lost": lost, "out_of_order": disorder,
           "publish_s": round(publish_s, 1), "owner_before": owner_before,
           "owner_after": owner_after, "registrations": len(regs), "faults": rows,
           "log": pub.log, "receipts_file": pub.out}
    log(f"[{spec}/{client}] " + json.dumps({k: v for k, v in res.items() if k != "faults"}))
    for r in rows:
        log(f"[{spec}/{client}]   {r}")
    return res


def rescore(results):
    """fault_rows() again from each run's receipts file (same faults, same
    re-registration times); for a change in the measure, not the data."""
    for r in results:
        per = partition_times(r["receipts_file"])
        times = sorted(x for ts in per.values() for x in ts)
        if r["scenario"].startswith("firstdown"):
            times = [r["faults"][0]["t"]] + times
        old = r["faults"]
        faults = [(f["fault"], f["t"]) for f in old]
        regs = [f["t"] + f["reregistered_ms"] / 1000 for f in old if f["reregistered_ms"]]
        new = fault_rows(faults, times, per if r["scenario"].startswith("split") else None, regs)
        for n, o in zip(new, old):
            n["reregistered_ms"] = o["reregistered_ms"]
        r["faults"] = new


def render(results, meta):
    out = ["# Cluster recovery: pulsarc beside the official client", "",
           f"{meta['date']}; Pulsar {meta['pulsar_version']} cluster from "
           "tools/real-cluster/pulsar-cluster.sh (ZooKeeper, 1 bookie, 2 brokers, proxy; default "
           "load manager, the extensible one for transfer) on one loopback host with 2 cores "
           "shared with other work; official "
           f"client: pulsar-client {meta['official_client']} (Python, C++ core). Each client: "
           f"{meta['count']} messages, 4 threads, one producer, send timeout 0, dedup on, batching "
           "1000 / 128 KiB / 10 ms, max pending 1000, service URL naming both brokers (the "
           "proxy's for KIND@proxy; split: a 16-partition topic keyed by thread); rate "
           f"{meta['rate']}/s ({meta['rolling_rate']}/s for rolling). Same fault script "
           "(cluster_faults.inject) for both.", "",
           "recovery = fault (admin command issued) to the first receipt after the longest "
           "receipt gap that starts within [fault - 1 s, fault + 60 s] and before the next "
           "fault; worst gap = that gap (the worst send latency the fault caused, by receipts); "
           "split (partitioned): per partition, the longest partition gap, recovery when the last "
           "stalled partition had its receipt; re-registered = fault to the "
           "producer's next registration in the client's own log. firstdown: broker1, the "
           "service URL's first host, is down when the publisher starts; recovery = process "
           "start to first receipt (interpreter and client start-up included).", "",
           "| scenario | fault | client | recovery ms | worst gap ms | re-registered ms |",
           "|---|---|---|---:|---:|---:|"]
    runs = {}  # scenario -> [{client: result}], the k-th run of each client paired
    for r in results:
        pairs = runs.setdefault(r["scenario"], [])
        if not pairs or r["client"] in pairs[-1]:
            pairs.append({})
        pairs[-1][r["client"]] = r
    for kind, pairs in runs.items():
        for k, pair in enumerate(pairs):
            name = kind if len(pairs) == 1 else f"{kind} #{k + 1}"
            for i in range(max(len(r["faults"]) for r in pair.values())):
                for c in CLIENTS:
                    if c not in pair or i >= len(pair[c]["faults"]):
                        continue
                    f = pair[c]["faults"][i]
                    out.append(f"| {name} | {f['fault']} | {c} | {f['recovery_ms']} | "
                               f"{f['worst_gap_ms']} | {f['reregistered_ms']} |")
    out += ["", "Per scenario and client, over all its faults (medians are of the faults, "
            "not of runs):", "",
            "| scenario | client | faults | median recovery ms | max recovery ms | "
            "max worst gap ms |", "|---|---|---:|---:|---:|---:|"]
    for kind in runs:
        for c in CLIENTS:
            fs = [f for r in results if r["scenario"] == kind and r["client"] == c
                  for f in r["faults"] if f["recovery_ms"] is not None]
            if fs:
                rec = sorted(f["recovery_ms"] for f in fs)
                out.append(f"| {kind} | {c} | {len(fs)} | {statistics.median(rec):.0f} | "
                           f"{rec[-1]} | {max(f['worst_gap_ms'] for f in fs)} |")
    out += ["", "| scenario | client | sent | receipts | received | duplicates | lost | "
            "out of order | publish s | owner before -> after |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        out.append(f"| {r['scenario']} | {r['client']} | {r['sent']} | {r['receipts']} | "
                   f"{r['received']} | {r['duplicates']} | {r['lost']} | {r['out_of_order']} | "
                   f"{r['publish_s']} | {r['owner_before']} -> {r['owner_after']} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--publisher", help="pulsarc-cluster-publish")
    ap.add_argument("--scenarios", default="unload,kill,rolling",
                    help="comma-separated, repeats allowed (kill,kill,kill: three runs)")
    ap.add_argument("--render", metavar="DIR",
                    help="only rewrite DIR/summary.md from its results.json")
    ap.add_argument("--rescore", action="store_true",
                    help="with --render: first recompute the fault rows from the receipts "
                         "files results.json names (they stay in the state dir)")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--rolling-rate", type=float, default=1000)
    ap.add_argument("--unloads", type=int, default=5)
    ap.add_argument("--transfers", type=int, default=3)
    ap.add_argument("--extensible-lm", action="store_true",
                    help="start the cluster with the extensible load manager (transfer)")
    ap.add_argument("--append", action="store_true",
                    help="add the runs to OUT/results.json instead of replacing it")
    ap.add_argument("--via", default="multi", help="for scenarios without @VIA")
    ap.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "cluster-recovery-" + time.strftime("%Y-%m-%d")))
    ap.add_argument("--state-dir", default="cluster-recovery-state")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.render:
        with open(os.path.join(a.render, "results.json")) as f:
            data = json.load(f)
        if a.rescore:
            rescore(data["results"])
            with open(os.path.join(a.render, "results.json"), "w") as f:
                json.dump(data, f, indent=1)
        with open(os.path.join(a.render, "summary.md"), "w") as f:
            f.write(render(data["results"], data["meta"]))
        return 0
    if not a.publisher:
        ap.error("--publisher is required")
    kinds = a.scenarios.split(",")
    known = ("unload", "kill", "rolling", "split", "firstdown", "transfer")
    for spec in kinds:
        kind, _, via = spec.partition("@")
        if kind not in known or via not in ("", "multi", "proxy", "multirev", "broker2"):
            ap.error("--scenarios: KIND or KIND@VIA, KIND one of " + ", ".join(known) +
                     ", VIA multi, proxy, multirev or broker2")
        if (kind == "transfer") != bool(a.extensible_lm):
            ap.error("transfer runs alone, on a cluster started with --extensible-lm")
    import pulsar  # noqa: F401 (the venv's official client)
    from importlib.metadata import version
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "official_client": version("pulsar-client"), "count": a.count, "rate": a.rate,
            "rolling_rate": a.rolling_rate, "unloads": a.unloads, "via": a.via,
            "scenarios": kinds}
    cl = Cluster(ROOT, a.state_dir)
    results, failed = [], []
    try:
        if a.reuse:
            cl.load_ports()
        else:
            cl.start(*(["--extensible-lm"] if a.extensible_lm else []))
        meta["pulsar_version"] = cl.ports.get("PULSAR_VERSION", "4.0.x")
        cl.run("dedup", "public/default", "on")
        for k, kind in enumerate(kinds):
            # alternate which client goes first, so neither always meets a
            # cluster just disturbed by the other's run
            for client in (CLIENTS if k % 2 == 0 else CLIENTS[::-1]):
                try:
                    results.append(run_one(cl, a, kind, client))
                except (AssertionError, ClusterError) as e:
                    # one failed run must not cost the others' figures
                    log(f"[{kind}/{client}] FAILED: {e}")
                    failed.append(f"{kind}/{client}: {e}")
    finally:
        if not a.keep:
            cl.stop()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "results.json")
    if a.append and os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        meta = dict(old["meta"], scenarios=old["meta"]["scenarios"] + kinds,
                    date=old["meta"]["date"] + ", " + meta["date"])
        results = old["results"] + results
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    md = render(results, meta)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    bad = [r for r in results if r["received"] != r["sent"] or r["duplicates"] or r["lost"]]
    for f in failed:
        log(f"FAILED run {f}")
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
