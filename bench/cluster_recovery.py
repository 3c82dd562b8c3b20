#!/usr/bin/env python3
"""Recovery figures beside the official client (issue 14 item 3); opt-in,
not in CI.

On ONE real cluster (tools/real-cluster/pulsar-cluster.sh, default load
manager, deduplication on) every scenario runs the same fault script
(tests/cluster/cluster_faults.py's inject(): unload, kill, rolling) twice:
once against pulsarc-cluster-publish and once against the official Python
client's producer (bench/peers/python/cluster_publish.py). Both publish
--count unique messages from 4 threads at --rate through one producer, send
timeout 0, batching 1000 / 128 KiB / 10 ms, max pending 1000, over the
service URL naming both brokers; the official client then reads each topic
back (cluster_faults.read_back) and counts duplicates and losses.

Per fault and client: the recovery time, from the fault (the moment the
admin command was issued) to the first receipt after the longest receipt
gap that starts within [fault - 1 s, fault + 60 s] and before the next
fault (a receipt of a message the broker already had in flight does not count as recovery), and that
gap (the worst send latency the fault caused, as seen by receipts).

Usage: tools/interop/setup-venv.sh   (prints PY)
       PY bench/cluster_recovery.py --publisher build/tests/cluster/pulsarc-cluster-publish
          [--scenarios unload,kill,rolling] [--count 100000] [--rate 5000]
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
from clusterlib import Cluster, log  # noqa: E402
from cluster_faults import (Publisher, after, check_readback, inject,  # noqa: E402
                            read_back)

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


def run_one(cl, a, kind, client):
    topic = f"persistent://public/default/recovery-{kind}-{client}-{uuid.uuid4().hex[:8]}"
    workdir = os.path.join(cl.dir, "scenarios")
    os.makedirs(workdir, exist_ok=True)
    owner_before = cl.owner(topic)
    rate = a.rolling_rate if kind == "rolling" else a.rate
    cls = Publisher if client == "pulsarc" else OfficialPublisher
    pub = cls(a.publisher, cl.url(a.via), topic, a.count, rate, workdir,
              f"recovery-{kind}-{client}-{os.getpid()}",
              "debug" if client == "pulsarc" else "info")
    log(f"[{kind}/{client}] topic {topic} owned by {owner_before}; rate {rate}/s")
    t_start = time.time()
    try:
        faults, killed = inject(cl, a, kind, topic, pub)
        times, _ = pub.finish(timeout_s=900)
    except BaseException:
        pub.proc.kill()
        raise
    publish_s = time.time() - t_start
    owner_after = cl.owner(topic)
    regs = pub.registrations()
    if killed:
        log(f"[{kind}/{client}] restarting {killed}")
        cl.run("restart", killed, timeout=300)
    got, _ = read_back(cl, topic, 0, {}, pub.total)
    dups, lost, disorder = check_readback(got, pub.total)
    rows = []
    for k, (label, t) in enumerate(faults):
        gap, end = outage(times, t, faults[k + 1][1] if k + 1 < len(faults) else t + 60)
        reg = after(regs, t)
        rows.append({"fault": label, "t": t,
                     "receipts_before": sum(1 for x in times if x <= t),
                     "recovery_ms": round((end - t) * 1000) if end else None,
                     "worst_gap_ms": round(gap * 1000),
                     "reregistered_ms": round((reg - t) * 1000) if reg else None})
    res = {"scenario": kind, "client": client, "topic": topic, "rate": rate,
           "sent": pub.total, "receipts": len(times), "received": len(got),
           "duplicates": dups, "lost": lost, "out_of_order": disorder,
           "publish_s": round(publish_s, 1), "owner_before": owner_before,
           "owner_after": owner_after, "registrations": len(regs), "faults": rows,
           "log": pub.log, "receipts_file": pub.out}
    log(f"[{kind}/{client}] " + json.dumps({k: v for k, v in res.items() if k != "faults"}))
    for r in rows:
        log(f"[{kind}/{client}]   {r}")
    return res


def render(results, meta):
    out = ["# Cluster recovery: pulsarc beside the official client", "",
           f"{meta['date']}; Pulsar {meta['pulsar_version']} cluster from "
           "tools/real-cluster/pulsar-cluster.sh (ZooKeeper, 1 bookie, 2 brokers, proxy; default "
           "load manager) on one loopback host with 2 cores shared with other work; official "
           f"client: pulsar-client {meta['official_client']} (Python, C++ core). Each client: "
           f"{meta['count']} messages, 4 threads, one producer, send timeout 0, dedup on, batching "
           "1000 / 128 KiB / 10 ms, max pending 1000, service URL naming both brokers; rate "
           f"{meta['rate']}/s ({meta['rolling_rate']}/s for rolling). Same fault script "
           "(cluster_faults.inject) for both.", "",
           "recovery = fault (admin command issued) to the first receipt after the longest "
           "receipt gap that starts within [fault - 1 s, fault + 60 s] and before the next "
           "fault; worst gap = that gap (the worst send latency the fault caused, by receipts); re-registered = fault to the "
           "producer's next registration in the client's own log.", "",
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
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--rolling-rate", type=float, default=1000)
    ap.add_argument("--unloads", type=int, default=5)
    ap.add_argument("--via", default="multi")
    ap.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "cluster-recovery-" + time.strftime("%Y-%m-%d")))
    ap.add_argument("--state-dir", default="cluster-recovery-state")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.render:
        with open(os.path.join(a.render, "results.json")) as f:
            data = json.load(f)
        with open(os.path.join(a.render, "summary.md"), "w") as f:
            f.write(render(data["results"], data["meta"]))
        return 0
    if not a.publisher:
        ap.error("--publisher is required")
    a.transfers = 0
    kinds = a.scenarios.split(",")
    if any(k not in ("unload", "kill", "rolling") for k in kinds):
        ap.error("--scenarios: unload, kill, rolling")
    import pulsar  # noqa: F401 (the venv's official client)
    from importlib.metadata import version
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "official_client": version("pulsar-client"), "count": a.count, "rate": a.rate,
            "rolling_rate": a.rolling_rate, "unloads": a.unloads, "via": a.via,
            "scenarios": kinds}
    cl = Cluster(ROOT, a.state_dir)
    results = []
    try:
        if a.reuse:
            cl.load_ports()
        else:
            cl.start()
        meta["pulsar_version"] = cl.ports.get("PULSAR_VERSION", "4.0.x")
        cl.run("dedup", "public/default", "on")
        for k, kind in enumerate(kinds):
            # alternate which client goes first, so neither always meets a
            # cluster just disturbed by the other's run
            for client in (CLIENTS if k % 2 == 0 else CLIENTS[::-1]):
                results.append(run_one(cl, a, kind, client))
    finally:
        if not a.keep:
            cl.stop()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    md = render(results, meta)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    bad = [r for r in results if r["received"] != r["sent"] or r["duplicates"] or r["lost"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
