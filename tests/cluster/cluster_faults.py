#!/usr/bin/env python3
"""Cluster fault scenarios (issue 14 item 2a, 2b) against the real cluster.

Deduplication on; pulsarc-cluster-publish sends --count unique messages
"t<thread>-<i>" from 4 threads through one producer (send timeout 0) while
this script injects the fault:
  unload  the topic is unloaded from its broker --unloads times, spread over
          the run (each after more receipts arrived);
  kill    the owning broker is SIGKILLed once (its topics move to the other
          broker when its metadata session expires); restarted afterwards.
Then the official client reads the topic from the start: every message
exactly once, each thread's messages in order. The fault must hit
mid-stream: receipts before and after each fault, pulsarc re-registered the
producer (its own INFO log), and for kill the owner changed (admin lookup).
With --via proxy, pulsarc must have connected to the proxy's port only.

Figures printed per scenario: sent, received, duplicates, losses, time from
each fault to the first receipt after it, the longest receipt gap.

Usage: run_cluster_test.sh cluster_faults.py --publisher PATH
         [--scenarios unload,kill] [--count 100000] [--rate 5000]
         [--state-dir DIR] [--reuse] [--keep] [--dedup on|off] [--pulsarc-log-level L]
         [--via multi,proxy,...]
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, log, read_all  # noqa: E402

THREADS = 4


class Publisher:
    """pulsarc-cluster-publish in the background; follows its progress."""

    def __init__(self, path, url, topic, count, rate, workdir, name, log_level):
        self.out = os.path.join(workdir, f"{name}.receipts")
        self.log = os.path.join(workdir, f"{name}.pulsarc.log")
        cmd = [path, "--service-url", url, "--topic", topic, "--threads", str(THREADS),
               "--count-per-thread", str(count // THREADS), "--rate", str(rate),
               "--name", name, "--send-timeout-ms", "0", "--out", self.out, "--log", self.log,
               "--log-level", log_level]
        self.total = (count // THREADS) * THREADS
        self.receipts = 0
        self.done = None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._follow, daemon=True)
        self.reader.start()

    def _follow(self):
        for line in self.proc.stdout:
            parts = line.split()
            if parts and parts[0] == "progress":
                self.receipts = int(parts[1])
            elif parts and parts[0] == "done":
                self.done = (int(parts[1]), int(parts[2]))

    def wait_receipts(self, n, timeout_s):
        deadline = time.monotonic() + timeout_s
        while self.receipts < n:
            if self.proc.poll() is not None:
                raise AssertionError(f"publisher exited ({self.proc.returncode}) at "
                                     f"{self.receipts} receipts, waiting for {n}")
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.receipts} receipts after {timeout_s}s "
                                     f"(waiting for {n})")
            time.sleep(0.05)

    def finish(self, timeout_s):
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"publisher did not finish within {timeout_s}s "
                                 f"({self.receipts}/{self.total} receipts)")
        self.reader.join(timeout=10)
        if rc != 0:
            raise AssertionError(f"publisher failed (exit {rc}); see {self.out}")
        times = []
        with open(self.out) as f:
            for line in f:
                t, i, ns, mid, err = line.split()
                if err != "PULSARC_OK":
                    raise AssertionError(f"message t{t}-{i}: {err}")
                times.append(int(ns) / 1e9)
        times.sort()
        return times

    def registrations(self):
        """Realtime seconds of each producer registration (pulsarc's INFO log)."""
        with open(self.log) as f:
            return [int(line.split()[0]) / 1e9 for line in f if " ready on " in line]


def check_readback(got, count):
    """Per-thread exactly-once, in-order check; returns (dups, lost, disorder)."""
    per = {t: [] for t in range(THREADS)}
    for p in got:
        t, _, i = p.partition("-")
        per[int(t[1:])].append(int(i))
    dups = lost = disorder = 0
    n = count // THREADS
    for t, seq in per.items():
        dups += len(seq) - len(set(seq))
        lost += len(set(range(n)) - set(seq))
        disorder += sum(1 for a, b in zip(seq, seq[1:]) if b <= a)
    return dups, lost, disorder


def after(times, t):
    """First receipt time after t (None if none)."""
    for x in times:
        if x > t:
            return x
    return None


def connected_ports(path):
    """Ports pulsarc connected to, from its INFO log ("conn HOST:PORT: connected")."""
    ports = set()
    with open(path) as f:
        for line in f:
            m = re.search(r" conn [0-9.]+:([0-9]+): connected", line)
            if m:
                ports.add(int(m.group(1)))
    return ports


def scenario(cl, a, kind, via):
    topic = f"persistent://public/default/faults-{kind}-{uuid.uuid4().hex[:8]}"
    workdir = os.path.join(cl.dir, "scenarios")
    os.makedirs(workdir, exist_ok=True)
    owner_before = cl.owner(topic)
    log(f"[{kind}] topic {topic} owned by {owner_before}; publishing via {via}")
    url = cl.url(via)
    pub = Publisher(a.publisher, url, topic, a.count, a.rate, workdir, f"{kind}-{via}-{os.getpid()}",
                    a.pulsarc_log_level)
    t_start = time.time()
    faults = []  # (label, time)
    killed = None
    try:
        if kind == "unload":
            for k in range(a.unloads):
                pub.wait_receipts(pub.total * (k + 1) // (a.unloads + 2), timeout_s=300)
                before = cl.owner(topic)
                t = time.time()
                cl.run("unload", topic)
                faults.append((f"unload {k + 1} (owner {before})", t))
                time.sleep(0.5)
        else:
            pub.wait_receipts(pub.total // 3, timeout_s=300)
            killed = cl.owner(topic)
            t = time.time()
            cl.run("kill", killed)
            faults.append((f"SIGKILL {killed}", t))
        times = pub.finish(timeout_s=600)
    except BaseException:
        pub.proc.kill()  # with send timeout 0 it would wait for the cluster forever
        raise
    t_end = time.time()
    owner_after = cl.owner(topic)
    regs = pub.registrations()
    ports = connected_ports(pub.log)
    if killed:
        log(f"[{kind}] restarting {killed}")
        cl.run("restart", killed, timeout=300)

    t0 = time.monotonic()
    got = read_all(cl.url("broker1"), topic, pub.total, timeout_s=300)
    read_s = time.monotonic() - t0
    dups, lost, disorder = check_readback(got, pub.total)
    gaps = [b - x for x, b in zip(times, times[1:])]
    lines = [f"[{kind}] sent {pub.total}, receipts {len(times)}, received {len(got)}, "
             f"duplicates {dups}, lost {lost}, out of order {disorder}; "
             f"publish {t_end - t_start:.1f}s, read back {read_s:.1f}s; owner {owner_before} -> "
             f"{owner_after}; producer registrations {len(regs)}; longest receipt gap "
             f"{max(gaps) * 1000:.0f} ms; pulsarc connected to ports {sorted(ports)}"]
    problems = []
    proxy_port = int(cl.ports["PROXY_PORT"])
    if via == "proxy" and ports != {proxy_port}:
        problems.append(f"through the proxy ({proxy_port}) pulsarc connected to {sorted(ports)}")
    for label, t in faults:
        # the fault's effect: pulsarc's next registration after it; the
        # recovery: the first receipt after that registration
        reg = after(regs, t)
        first = after(times, reg) if reg else None
        n_before = sum(1 for x in times if x <= t)
        window = [b - x for x, b in zip(times, times[1:]) if t - 1 <= x <= t + 60]
        rec = (f"re-registered after {(reg - t) * 1000:.0f} ms, first receipt after that "
               f"{(first - t) * 1000:.0f} ms after the fault" if first else "no recovery seen")
        lines.append(f"[{kind}]   {label}: {n_before} receipts before; {rec}; longest receipt "
                     f"gap around it {max(window, default=0) * 1000:.0f} ms")
        if n_before == 0 or first is None:
            problems.append(f"{label} did not hit mid-stream")
    for line in lines:
        log(line)
    if len(regs) < 2:
        problems.append(f"pulsarc registered the producer {len(regs)} time(s): no reconnect")
    if killed and owner_after == killed:
        problems.append(f"owner did not change after SIGKILL of {killed}")
    if len(got) != pub.total or dups or lost or disorder:
        problems.append(f"read back: {len(got)}/{pub.total}, {dups} duplicates, {lost} lost, "
                        f"{disorder} out of order")
    return lines, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--scenarios", default="unload,kill")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=5000, help="messages/s, all threads")
    ap.add_argument("--unloads", type=int, default=5)
    ap.add_argument("--state-dir", default="cluster-faults")
    ap.add_argument("--via", default="multi",
                    help="comma-separated service URLs to run each scenario through: multi "
                         "(both brokers, default), broker1, broker2, proxy (then pulsarc may "
                         "connect to the proxy port only)")
    ap.add_argument("--dedup", choices=("on", "off"), default="on",
                    help="off shows that the read-back check catches duplicates")
    ap.add_argument("--pulsarc-log-level", default="info",
                    help="pulsarc's log level (the log is in STATE/scenarios)")
    ap.add_argument("--reuse", action="store_true", help="use a running cluster in --state-dir")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    a = ap.parse_args()

    kinds = a.scenarios.split(",")
    if any(k not in ("unload", "kill") for k in kinds):
        ap.error("--scenarios: a comma-separated list of unload, kill")
    vias = a.via.split(",")
    if any(v not in ("multi", "broker1", "broker2", "proxy") for v in vias):
        ap.error("--via: a comma-separated list of multi, broker1, broker2, proxy")
    cl = Cluster(a.root, a.state_dir)
    t_all = time.monotonic()
    report, problems = [], []
    try:
        if a.reuse:
            cl.load_ports()
        else:
            cl.start()
        cl.run("dedup", "public/default", a.dedup)
        for via in vias:
            for kind in kinds:
                lines, bad = scenario(cl, a, kind, via)
                report += [f"via {via}: {line}" for line in lines]
                problems += [f"[{kind} via {via}] {p}" for p in bad]
    finally:
        if not a.keep:
            cl.stop()
    log(f"total {time.monotonic() - t_all:.1f}s"
        + (f" (cluster start {cl.start_seconds:.1f}s)" if cl.start_seconds else ""))
    for line in report:
        print(line)
    if problems:
        for p in problems:
            log(f"FAIL: {p}")
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
