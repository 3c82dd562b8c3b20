#!/usr/bin/env python3
"""Cluster fault scenarios (issue 14 items 2a-e, 2g) against the real cluster.

Deduplication on; pulsarc-cluster-publish sends --count unique messages
"t<thread>-<i>" from 4 threads through one producer (send timeout 0) while
this script injects the fault:
  unload  the topic is unloaded from its broker --unloads times, spread over
          the run (each after more receipts arrived);
  kill    the owning broker is SIGKILLed once (its topics move to the other
          broker when its metadata session expires); restarted afterwards.
  rolling both brokers are restarted (SIGTERM, start), the owner first, one
          after the other (published at --rolling-rate so both hit mid-stream).
  split   a 16-partition topic, each thread's messages keyed by its thread id;
          every bundle of public/default is split (and unloaded) mid-stream.
  transfer (extensible load manager only) the topic's bundle is unloaded
          --transfers times naming the other broker as destination: the
          CLOSE_PRODUCER names the new owner and pulsarc goes straight there,
          without a LOOKUP (its DEBUG log), through the proxy when via proxy.
  firstdown  no fault: broker1, the first host of the two-broker service URL,
          is stopped before pulsarc starts (multi only); restarted afterwards.
Then the official client reads the topic from the start: every message
exactly once, each thread's messages in order. The fault must hit
mid-stream: receipts before and after each fault, pulsarc re-registered the
producer (its own INFO log), and for kill the owner changed (admin lookup).
With --via proxy, pulsarc must have dialled the proxy's port only: every
address it dialled is in its DEBUG log, failed dials included (the default
log level here is debug); only --proxy-scenarios run via proxy.
With --via proxytls, the --tls-scenarios run through the proxy's TLS port
(pulsar+ssl://, the CA pulsar-cluster.sh made, a token; the proxy forwards
the token to the brokers, which verify it too): pulsarc may dial that port
only, the official client reads back through it with TLS and a token, and a
token signed with another key is refused first.

Figures printed per scenario: sent, received, duplicates, losses, time from
each fault to the first receipt after it, the longest receipt gap.

Usage: run_cluster_test.sh cluster_faults.py --publisher PATH
         [--scenarios unload,kill,rolling,split,firstdown] [--proxy-scenarios ...] [--count 100000] [--rate 5000]
         [--state-dir DIR] [--reuse] [--keep] [--dedup on|off] [--pulsarc-log-level L]
         [--via multi,proxy,proxytls,...] [--tls-scenarios unload]
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
from cluster_smoke import smoke  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from tls_interop import make_jwt  # noqa: E402

THREADS = 4


class Publisher:
    """pulsarc-cluster-publish in the background; follows its progress."""

    def __init__(self, path, url, topic, count, rate, workdir, name, log_level, extra=()):
        self.out = os.path.join(workdir, f"{name}.receipts")
        self.log = os.path.join(workdir, f"{name}.pulsarc.log")
        self.total = (count // THREADS) * THREADS
        self.receipts = 0
        self.done = None
        cmd = self.command(path, url, topic, count, rate, name, log_level, extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._follow, daemon=True)
        self.reader.start()

    def command(self, path, url, topic, count, rate, name, log_level, extra):
        """The publisher's argv; bench/cluster_recovery.py overrides it to run
        the official client's publisher (same progress and --out format)."""
        return [path, "--service-url", url, "--topic", topic, "--threads", str(THREADS),
                "--count-per-thread", str(count // THREADS), "--rate", str(rate),
                "--name", name, "--send-timeout-ms", "0", "--out", self.out, "--log", self.log,
                "--log-level", log_level, *extra]

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
        times, parts = [], {}
        with open(self.out) as f:
            for line in f:
                t, i, ns, mid, err = line.split()
                if err != "PULSARC_OK":
                    raise AssertionError(f"message t{t}-{i}: {err}")
                times.append(int(ns) / 1e9)
                p = partition_of(mid)
                parts[p] = parts.get(p, 0) + 1
        times.sort()
        return times, parts

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


def dialled_ports(path):
    """Every port pulsarc dialled, from its DEBUG log ("connecting to HOST:PORT")
    and INFO log ("connect to HOST:PORT failed"); None if the log has no dial
    line at all (log level above debug)."""
    ports, seen = set(), False
    with open(path) as f:
        for line in f:
            m = re.search(r" (?:connecting to|connect to) [0-9.]+:([0-9]+)", line)
            if m:
                seen = True
                ports.add(int(m.group(1)))
    return ports if seen else None


def new_owner_closes(path, topic, since):
    """(CLOSE_PRODUCERs that named a new owner, LOOKUPs of topic sent after
    since) from pulsarc's log (the LOOKUP lines are DEBUG)."""
    named = lookups = 0
    with open(path) as f:
        for line in f:
            if f"broker closed producer on {topic}, new owner " in line:
                named += 1
            elif f" sending LOOKUP for {topic} to " in line and int(line.split()[0]) / 1e9 > since:
                lookups += 1
    return named, lookups


def read_back(cl, topic, nparts, parts, total, via="broker1"):
    """(payloads read back by the official client through via, seconds it took)."""
    t0 = time.monotonic()
    url, args = cl.url(via), cl.official_args(via)
    if nparts:
        got = []
        for part, n in sorted(parts.items()):
            got += read_all(url, f"{topic}-partition-{part}", n, timeout_s=300,
                            quiet_ms=1000, client_args=args)
    else:
        got = read_all(url, topic, total, timeout_s=300, client_args=args)
    return got, time.monotonic() - t0


def partition_of(msg_id):
    """LEDGER:ENTRY:PARTITION:BATCH -> PARTITION (-1: not partitioned)."""
    return int(msg_id.split(":")[2])


def owners(cl, topic, nparts):
    """{topic or partition: broker name} by admin lookup."""
    names = [topic] if nparts == 0 else [f"{topic}-partition-{i}" for i in range(nparts)]
    return {n: cl.owner(n) for n in names}


def owner_summary(own):
    if len(own) == 1:
        return next(iter(own.values()))
    per = {}
    for b in own.values():
        per[b] = per.get(b, 0) + 1
    return ", ".join(f"{b}: {n} partitions" for b, n in sorted(per.items()))


def other(broker):
    return "broker2" if broker == "broker1" else "broker1"


SPLIT_PARTITIONS = 16


def inject(cl, a, kind, topic, pub):
    """Runs kind's fault script against the running publisher pub; returns
    (faults as [(label, realtime seconds)], the broker killed or None)."""
    faults = []  # (label, time)
    killed = None
    if kind == "unload":
        for k in range(a.unloads):
            pub.wait_receipts(pub.total * (k + 1) // (a.unloads + 2), timeout_s=300)
            before = cl.owner(topic)
            t = time.time()
            cl.run("unload", topic)
            faults.append((f"unload {k + 1} (owner {before})", t))
            time.sleep(0.5)
    elif kind == "kill":
        pub.wait_receipts(pub.total // 3, timeout_s=300)
        killed = cl.owner(topic)
        t = time.time()
        cl.run("kill", killed)
        faults.append((f"SIGKILL {killed}", t))
    elif kind == "rolling":
        # the owner first (its topics move to the other broker), then the
        # other one (they move back): a rolling restart of both
        first = cl.owner(topic)
        for k, broker in enumerate((first, other(first))):
            pub.wait_receipts(max(pub.total * (k + 1) // 6, pub.receipts + 1000),
                              timeout_s=300)
            t = time.time()
            cl.run("restart", broker, timeout=300)
            faults.append((f"restart {broker} ({time.time() - t:.1f}s)", t))
    elif kind == "split":
        pub.wait_receipts(pub.total // 3, timeout_s=300)
        t = time.time()
        cl.run("split-bundle", "public/default")
        faults.append(("split of every bundle of public/default", t))
    elif kind == "transfer":
        for k in range(a.transfers):
            pub.wait_receipts(pub.total * (k + 1) // (a.transfers + 2), timeout_s=300)
            before = cl.owner(topic)
            dest = other(before)
            t = time.time()
            cl.run("unload", topic, dest)
            faults.append((f"transfer {k + 1} {before} -> {dest}", t))
            time.sleep(0.5)
    elif kind == "firstdown":
        pass
    return faults, killed


def broker_roles(cl, producer_name):
    """The roles the brokers logged for producer_name's registrations."""
    roles = set()
    for b in ("broker1", "broker2"):
        with open(os.path.join(cl.dir, b, "logs", f"{b}.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"producerName=" + re.escape(producer_name) +
                              r", producerId=\d+\}, role: (\S+)", line)
                if m:
                    roles.add(m.group(1))
    return roles


def forged_token_refused(cl, a, workdir):
    """pulsarc through the proxy's TLS port with a token signed by another
    key: refused (the proxy verifies tokens). Returns a problem or None."""
    bad = os.path.join(workdir, "forged.token")
    with open(bad, "w") as f:
        f.write(make_jwt(os.urandom(32), "client") + "\n")
    name = f"forged-{os.getpid()}"
    cmd = [a.publisher, "--service-url", cl.url("proxytls"), "--topic",
           f"persistent://public/default/forged-{uuid.uuid4().hex[:8]}", "--threads", "1",
           "--count-per-thread", "1", "--out", os.path.join(workdir, f"{name}.receipts"),
           "--log", os.path.join(workdir, f"{name}.pulsarc.log"),
           *cl.pulsarc_flags("proxytls", token_file=bad)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    log(f"[forged token] exit {r.returncode}: {r.stderr.strip()[-300:]}")
    if r.returncode == 0:
        return "a token signed with another key was accepted through the proxy's TLS port"
    if "auth" not in r.stderr.lower():
        return f"forged token: no authentication error reported ({r.stderr.strip()[-300:]})"
    return None


def scenario(cl, a, kind, via):
    topic = f"persistent://public/default/faults-{kind}-{uuid.uuid4().hex[:8]}"
    workdir = os.path.join(cl.dir, "scenarios")
    os.makedirs(workdir, exist_ok=True)
    nparts = SPLIT_PARTITIONS if kind == "split" else 0
    if nparts:
        cl.run("create-partitioned", topic, str(nparts))
    stopped = None
    if kind == "firstdown":
        # the service URL's first host is down before pulsarc starts
        stopped = "broker1"
        cl.run("stop", stopped, timeout=300)
    own_before = owners(cl, topic, nparts)
    if kind == "split" and len(set(own_before.values())) < 2:
        # spread the partitions: move the bundles of the first broker's half
        log(f"[{kind}] all partitions on one broker; splitting the bundles to spread them")
        cl.run("split-bundle", "public/default")
        own_before = owners(cl, topic, nparts)
    log(f"[{kind}] topic {topic} owned by {owner_summary(own_before)}; publishing via {via}")
    url = cl.url(via)
    problems = []
    if via == "proxytls":
        bad = forged_token_refused(cl, a, workdir)
        if bad:
            problems.append(bad)
    rate = a.rolling_rate if kind == "rolling" else a.rate
    name = f"{kind}-{via}-{os.getpid()}"
    pub = Publisher(a.publisher, url, topic, a.count, rate, workdir, name, a.pulsarc_log_level,
                    extra=(["--key-by-thread", "1"] if nparts else []) + cl.pulsarc_flags(via))
    t_start = time.time()
    try:
        faults, killed = inject(cl, a, kind, topic, pub)
        times, parts = pub.finish(timeout_s=600)
    except BaseException:
        pub.proc.kill()  # with send timeout 0 it would wait for the cluster forever
        raise
    t_end = time.time()
    own_after = owners(cl, topic, nparts)
    regs = pub.registrations()
    ports = dialled_ports(pub.log)
    if killed or stopped:
        log(f"[{kind}] restarting {killed or stopped}")
        cl.run("restart", killed or stopped, timeout=300)

    # through the proxy's TLS port with a token when pulsarc went that way
    got, read_s = read_back(cl, topic, nparts, parts, pub.total,
                            via="proxytls" if via == "proxytls" else "broker1")
    dups, lost, disorder = check_readback(got, pub.total)
    gaps = [b - x for x, b in zip(times, times[1:])]
    reconnects = len(regs) - max(nparts, 1)
    lines = [f"[{kind}] sent {pub.total}, receipts {len(times)}, received {len(got)}, "
             f"duplicates {dups}, lost {lost}, out of order {disorder}; "
             f"publish {t_end - t_start:.1f}s, read back {read_s:.1f}s; owner "
             f"{owner_summary(own_before)} -> {owner_summary(own_after)}; producer "
             f"re-registrations {reconnects}; longest receipt gap {max(gaps) * 1000:.0f} ms; "
             f"pulsarc dialled ports {sorted(ports) if ports is not None else '?'}"]
    if nparts:
        used = [f"{topic}-partition-{i}" for i in sorted(parts)]
        lines.append(f"[{kind}]   messages per partition {dict(sorted(parts.items()))}, their "
                     f"owners {[own_before[n] for n in used]} -> {[own_after[n] for n in used]}; "
                     f"partitions that changed owner "
                     f"{sum(1 for n in own_before if own_before[n] != own_after[n])}")
    proxy_port = int(cl.ports["PROXY_TLS_PORT" if via == "proxytls" else "PROXY_PORT"])
    if via in ("proxy", "proxytls"):
        # every address pulsarc dialled, not just the connections that made it
        if ports is None:
            problems.append("no dial lines in pulsarc's log (run with --pulsarc-log-level debug)")
        elif ports != {proxy_port}:
            problems.append(f"through the proxy ({proxy_port}) pulsarc dialled {sorted(ports)}")
    if via == "proxytls":
        # the proxy forwarded the client's token and the brokers verified it
        roles = broker_roles(cl, name)
        lines.append(f"[{kind}]   brokers' roles for producer {name}: {sorted(roles)}")
        if roles != {"client"}:
            problems.append(f"the brokers saw roles {sorted(roles)} for {name}, want client")
    if kind == "firstdown":
        # pulsarc starts a client's lookups at host (producers so far % hosts):
        # its one producer asks the second host first, so multi never dials
        # the stopped broker1, and multirev (broker2,broker1) must fail over
        down = int(cl.ports["BROKER1_PORT"])
        dialled = ports is not None and down in ports
        lines.append(f"[{kind}]   broker1 (port {down}) down at start, service URL {url}; "
                     f"pulsarc dialled it (refused) and went on: {dialled}")
        if via == "multirev" and not dialled:
            problems.append("pulsarc never tried the stopped broker: no failover shown")
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
    if faults and reconnects < 1:
        problems.append(f"pulsarc registered the producer {len(regs)} time(s): no reconnect")
    if kind == "transfer":
        named, lookups = new_owner_closes(pub.log, topic, faults[0][1])
        lines.append(f"[{kind}]   CLOSE_PRODUCERs naming the new owner: {named}; LOOKUPs pulsarc "
                     f"sent after the first transfer: {lookups}")
        if named == 0:
            problems.append("no CLOSE_PRODUCER named the new owner")
        if lookups:
            problems.append(f"pulsarc sent {lookups} LOOKUP(s) after a transfer named the owner")
        if own_after[topic] == own_before[topic] and a.transfers % 2:
            problems.append("the owner did not change")
    if killed and own_after[topic] == killed:
        problems.append(f"owner did not change after SIGKILL of {killed}")
    if kind == "split" and len(set(own_before.values())) < 2:
        problems.append(f"the {nparts} partitions were not spread over both brokers")
    if len(got) != pub.total or dups or lost or disorder:
        problems.append(f"read back: {len(got)}/{pub.total}, {dups} duplicates, {lost} lost, "
                        f"{disorder} out of order")
    return lines, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--smoke-publisher",
                    help="pulsarc-interop-publish: first run cluster_smoke.py's check "
                         "on this cluster (one cluster start for both in CI)")
    ap.add_argument("--scenarios", default="unload,kill")
    ap.add_argument("--proxy-scenarios", default="unload,kill,rolling,transfer",
                    help="of --scenarios, those also run via proxy (firstdown never is)")
    ap.add_argument("--tls-scenarios", default="unload",
                    help="of --scenarios, those also run via proxytls (the proxy's TLS port, "
                         "token)")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=5000, help="messages/s, all threads")
    ap.add_argument("--rolling-rate", type=float, default=1000,
                    help="messages/s for rolling: the publish must outlast two broker restarts")
    ap.add_argument("--unloads", type=int, default=5)
    ap.add_argument("--transfers", type=int, default=3)
    ap.add_argument("--extensible-lm", action="store_true",
                    help="start the cluster with the extensible load manager (for transfer)")
    ap.add_argument("--state-dir", default="cluster-faults")
    ap.add_argument("--via", default="multi",
                    help="comma-separated service URLs to run each scenario through: multi "
                         "(both brokers, default), broker1, broker2, proxy (then pulsarc may "
                         "connect to the proxy port only), proxytls (the proxy's TLS port with "
                         "a token; likewise); multirev (broker2,broker1) serves firstdown only")
    ap.add_argument("--dedup", choices=("on", "off"), default="on",
                    help="off shows that the read-back check catches duplicates")
    ap.add_argument("--pulsarc-log-level", default="debug",
                    help="pulsarc's log level (the log is in STATE/scenarios)")
    ap.add_argument("--reuse", action="store_true", help="use a running cluster in --state-dir")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    a = ap.parse_args()

    kinds = a.scenarios.split(",")
    all_kinds = ("unload", "kill", "rolling", "split", "firstdown", "transfer")
    if any(k not in all_kinds for k in kinds):
        ap.error("--scenarios: a comma-separated list of " + ", ".join(all_kinds))
    proxy_kinds = a.proxy_scenarios.split(",")
    vias = a.via.split(",")
    tls_kinds = a.tls_scenarios.split(",")
    if any(v not in ("multi", "multirev", "broker1", "broker2", "proxy", "proxytls")
           for v in vias):
        ap.error("--via: a comma-separated list of multi, multirev, broker1, broker2, proxy, "
                 "proxytls")
    cl = Cluster(a.root, a.state_dir)
    t_all = time.monotonic()
    report, problems = [], []
    try:
        if a.reuse:
            cl.load_ports()
        else:
            cl.start(*(["--extensible-lm"] if a.extensible_lm else []))
        if a.smoke_publisher:
            smoke(cl, a.smoke_publisher, 200)
        cl.run("dedup", "public/default", a.dedup)
        for via in vias:
            for kind in kinds:
                if (via == "proxy" and kind not in proxy_kinds) or \
                        (via == "proxytls" and kind not in tls_kinds) or \
                        (kind == "firstdown" and via not in ("multi", "multirev")) or \
                        (via == "multirev" and kind != "firstdown"):
                    continue
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
