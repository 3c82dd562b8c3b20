#!/usr/bin/env python3
"""Many producers on one client: pulsarc, the Go client and the Java
pulsar-perf against ONE stand-alone test broker (issue #13 item 2).

Two shapes: N producers on one client, one topic each (--producers, 10000),
and one producer on a topic of P partitions (--partitions, 1000). For each
run (--runs, medians) every client runs both shapes in turn, interleaved, so
drift in the machine's load spreads over all of them. Each client process
runs alone beside the broker process, so its RSS and CPU are its own.

  pulsarc  build/bench/pulsarc-many-producers --service-url URL (measures itself:
           VmRSS/VmHWM from /proc/self/status, getrusage). On the partitioned
           shape it runs twice (--pulsarc-routings): keyless messages round
           robin per message (a custom router, as the Go program does) and
           pulsarc's default round robin, which switches partition once per
           batch as pulsar-perf's default router does (row
           "pulsarc-default"; the Java ratios are taken against it)
  go       bench/peers/go/many_producers (pulsar-client-go, the version of
           bench/peer_clients.py's GO_VERSION), built here into
           ~/.cache/pulsarc/bench/go-many-producers; measures itself the same way
  java     pulsar-perf produce --num-topics N (the jars bench/peer_clients.py
           resolves from Maven Central), measured from outside: its log lines
           for the create time and the throughput, /proc/<pid>/status and
           /proc/<pid>/stat for RSS and CPU. pulsar-perf has no idle phase and
           refuses rate 0, so it runs twice per shape: once at --rate 1 (one
           message per second over all topics: "idle" RSS and CPU) and once
           unthrottled for --duration s (throughput, RSS while sending, peak).

Writes results.json and summary.md (medians, ratios, load averages, git
rev) into bench/results/many-producers-<date>/ (or --out). Python stdlib only.

  python3 bench/many_producers.py [--producers 10000] [--partitions 1000]
      [--runs 3] [--clients pulsarc,go,java] [--shapes producers,partitions]
      [--pulsarc-routings per-message,default] [--build-dir build] [--no-build]
"""
import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import last_json  # noqa: E402  (bench/run.py: the last JSON line of a tool's output)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import peer_clients  # noqa: E402  (CACHE, JAVA_CP, JVM_FLAGS, GO_VERSION, fetch, proc_cpu_s)

CACHE = peer_clients.CACHE
GO_DIR = os.path.join(BENCH, "peers", "go", "many_producers")
GO_BIN = os.path.join(CACHE, "go-many-producers")
T0 = time.time()


def log(*a):
    print("[%6.0fs] %s" % (time.time() - T0, " ".join(str(x) for x in a)), file=sys.stderr,
          flush=True)


def build(a):
    bins = dict(mp=os.path.join(a.build_dir, "bench/pulsarc-many-producers"),
                tb=os.path.join(a.build_dir, "tools/testbroker/pulsarc-testbroker"))
    if not a.no_build:
        if not os.path.exists(os.path.join(a.build_dir, "build.ninja")):
            subprocess.run(["cmake", "-S", ROOT, "-B", a.build_dir, "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=Release", "-DPULSARC_BUILD_TESTS=OFF"],
                           check=True, stdout=subprocess.DEVNULL)
        log("building (ninja -j2) in", a.build_dir)
        subprocess.run(["ninja", "-C", a.build_dir, "-j2", "pulsarc-many-producers",
                        "pulsarc-testbroker"], check=True, stdout=subprocess.DEVNULL)
    for n, p in bins.items():
        if not os.access(p, os.X_OK):
            sys.exit("many_producers: %s not built (%s)" % (n, p))
    return bins


def build_go():
    """(None) or why the Go program cannot be had."""
    with open(os.path.join(GO_DIR, "go.mod")) as f:
        if "pulsar-client-go " + peer_clients.GO_VERSION not in f.read():
            return "bench/peers/go/many_producers/go.mod does not name pulsar-client-go %s" % (
                peer_clients.GO_VERSION)
    newest = max(os.path.getmtime(os.path.join(GO_DIR, n)) for n in ("main.go", "go.mod", "go.sum"))
    if os.access(GO_BIN, os.X_OK) and os.path.getmtime(GO_BIN) >= newest:
        return None
    os.makedirs(CACHE, exist_ok=True)
    log("go build bench/peers/go/many_producers ->", GO_BIN)
    p = subprocess.run(["go", "build", "-o", GO_BIN, "."], cwd=GO_DIR, capture_output=True,
                       text=True)
    return None if p.returncode == 0 else "go build: " + p.stderr.strip()[-300:]


def start_broker(bins, part_topics, partitions):
    cmd = [bins["tb"], "--listen", "127.0.0.1:0", "--retain-bytes", "0"]
    for t in part_topics:
        cmd += ["--partitions", "%s=%d" % (t, partitions)]
    err = open(os.path.join(CACHE, "many-producers-broker.stderr"), "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    m = re.search(r"ready (\S+)", p.stdout.readline())
    if not m:
        p.kill()
        sys.exit("many_producers: the test broker did not start")
    return p, m.group(1)




def run_self_measuring(cmd, timeout, errname):
    """pulsarc-many-producers or the Go program: its JSON line, status ok."""
    errf = os.path.join(CACHE, errname)
    with open(errf, "w") as ef:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=ef, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return dict(status="error: timed out after %d s" % timeout)
    j = last_json(p.stdout)
    if p.returncode or not j:
        with open(errf, errors="replace") as f:
            tail = [l for l in f.read().splitlines() if l.strip()]
        why = [l for l in tail if "many_producers:" in l or "pulsarc-many-producers:" in l]
        return dict(status="error: exit %d: %s" % (p.returncode, (why or tail or ["no output"])[-1][:300]),
                    **(j or {}))
    j["status"] = "ok" if not j.get("errors") else "ok (%d errors)" % j["errors"]
    return j


def run_pulsarc(bins, a, shape, n, topic, routing="per-message"):
    cmd = [bins["mp"], "--service-url", a.url, "--topic", topic, "--settle-ms", str(a.settle_ms),
           "--idle-s", str(a.idle_s), "--duration-s", str(a.duration)]
    cmd += (["--partitions", str(n), "--routing", routing] if shape == "partitions"
            else ["--producers", str(n)])
    return run_self_measuring(cmd, a.timeout, "many-producers-pulsarc.stderr")


# The row a peer's ratios are taken against, per shape: pulsar-perf routes
# keyless messages with its default router (round robin per batch), so on
# the partitioned shape it is compared with pulsarc's default routing; the
# Go program routes per message, as the "pulsarc" row does.
def base_row(shape, peer):
    return "pulsarc-default" if shape == "partitions" and peer == "java" else "pulsarc"


def shape_clients(shape, clients, routings):
    """The rows of a shape: pulsarc's partitioned shape once per routing."""
    out = []
    for c in clients:
        if c == "pulsarc" and shape == "partitions":
            out += [{"per-message": "pulsarc", "default": "pulsarc-default"}[r] for r in routings]
        else:
            out.append(c)
    return out


def run_go(a, shape, n, topic):
    cmd = [GO_BIN, "--service-url", a.url, "--topic", topic, "--settle-ms", str(a.settle_ms),
           "--idle-s", str(a.idle_s), "--duration-s", str(a.duration),
           "--create-timeout-s", str(a.create_timeout)]
    cmd += ["--partitions", str(n)] if shape == "partitions" else ["--producers", str(n)]
    return run_self_measuring(cmd, a.timeout, "many-producers-go.stderr")


# ------------------------------------------------------------------ Java

def proc_status(pid):
    """{VmRSS, VmHWM} in KiB, {} if the process is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3})")


def log_time(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S,%f").timestamp()


def java_one(a, shape, n, topic, rate, hold_s, logname):
    """One pulsar-perf produce process. Watches its log: creation starts at
    the first "Adding 1 publishers" line and ends at "Created K producers"
    (both its own timestamps); RSS is read every 0.1 s. With hold_s set, the
    process is ended hold_s after creation (the idle run); otherwise it runs
    its -time. Returns the raw observations."""
    conf = os.path.join(CACHE, "client-many.conf")
    with open(conf, "w") as f:
        f.write("brokerServiceUrl=%s\n" % a.url)
    topics = 1 if shape == "partitions" else n
    test_time = 100000 if hold_s is not None else int(a.duration)
    cmd = (["java"] + peer_clients.JVM_FLAGS +
           ["-cp", open(peer_clients.JAVA_CP).read().strip(),
            "org.apache.pulsar.testclient.PulsarPerfTestTool", conf, "produce", "-u", a.url,
            "-t", str(topics), "-r", str(rate), "-s", "100", "-time", str(test_time), topic])
    logf = os.path.join(CACHE, logname)
    lf = open(logf, "w+")
    p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
    obs = dict(samples=[])
    pos, buf = 0, ""
    deadline = time.time() + a.timeout
    created_at = None
    try:
        while time.time() < deadline:
            lf.flush()
            with open(logf, errors="replace") as rf:
                rf.seek(pos)
                chunk = rf.read()
                pos = rf.tell()
            buf += chunk
            lines = buf.split("\n")
            buf = lines.pop()
            st = proc_status(p.pid)
            for line in lines:
                if "Started performance test thread" in line and "rss_before_kib" not in obs:
                    obs["rss_before_kib"] = st.get("VmRSS")
                elif "Adding 1 publishers" in line and "create_t0" not in obs:
                    obs["create_t0"] = log_time(line)
                m = re.search(r"Created (\d+) producers", line)
                if m and "create_t1" not in obs:
                    obs["create_t1"] = log_time(line)
                    obs["created"] = int(m.group(1))
                    created_at = time.time()
                if "DONE (reached the maximum duration" in line and "done_t" not in obs:
                    obs["done_t"] = log_time(line)
                m = re.search(r"Aggregated throughput stats --- (\d+) records sent --- ([\d.,]+) msg/s",
                              line)
                if m:
                    obs["records"] = int(m.group(1))
                    obs["msgs_per_s"] = float(m.group(2).replace(",", ""))
                if ("ERROR" in line or "Exception" in line) and "first_error" not in obs:
                    obs["first_error"] = line[:300]
            if st:
                obs["samples"].append((time.time(), st.get("VmRSS"), st.get("VmHWM"),
                                       peer_clients.proc_cpu_s(p.pid),
                                       created_at is not None and "done_t" not in obs))
            if p.poll() is not None:
                break
            if hold_s is not None and created_at is not None:
                idle = obs.setdefault("idle", {})
                el = time.time() - created_at
                if el >= a.settle_ms / 1000 and "rss_idle_kib" not in obs:
                    obs["rss_idle_kib"] = st.get("VmRSS")
                    idle["cpu0"], idle["t0"] = peer_clients.proc_cpu_s(p.pid), time.time()
                if el >= a.settle_ms / 1000 + a.idle_s and "cpu1" not in idle:
                    idle["cpu1"], idle["t1"] = peer_clients.proc_cpu_s(p.pid), time.time()
                    obs["rss_peak_kib"] = st.get("VmHWM")
                    p.send_signal(signal.SIGTERM)
                    hold_s = None
                    deadline = time.time() + 30
            time.sleep(0.1)
        else:
            obs["timed_out"] = True
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        lf.close()
    obs["exit"] = p.returncode
    return obs


def run_java(a, shape, n, topic):
    """Two pulsar-perf runs (idle at rate 1, then unthrottled); one row."""
    units = n
    r = dict(status="ok", create_mode="createAsync per topic (pulsar-perf)")
    idle = java_one(a, shape, n, topic + "-idle" if shape == "producers" else topic, 1, True,
                    "many-producers-java-idle.log")
    if "create_t1" not in idle:
        why = idle.get("first_error") or ("timed out after %d s" % a.timeout
                                          if idle.get("timed_out") else "exit %s" % idle["exit"])
        return dict(status="error: producers not created: " + why)
    before = idle.get("rss_before_kib")
    r["create_seconds"] = idle["create_t1"] - idle["create_t0"]
    r["rss_before_kib"] = before
    r["rss_idle_kib"] = idle.get("rss_idle_kib")
    iw = idle.get("idle", {})
    if "cpu1" in iw and iw["cpu0"] is not None and iw["cpu1"] is not None:
        r["idle_cpu_pct"] = 100 * (iw["cpu1"] - iw["cpu0"]) / (iw["t1"] - iw["t0"])
        r["idle_seconds"] = round(iw["t1"] - iw["t0"], 1)
    # The unthrottled run; a partitioned topic is reused (it is registered at
    # broker start), topics of the producers shape are new.
    send = java_one(a, shape, n, topic + "-send" if shape == "producers" else topic, 100000000,
                    None, "many-producers-java-send.log")
    if "create_t1" in send:
        r["create_seconds_send_run"] = send["create_t1"] - send["create_t0"]
    s_before = send.get("rss_before_kib")
    sending = [s for s in send["samples"] if s[4]]
    if sending and s_before:
        # RSS while sending: the last sample before the run's -time ends.
        r["rss_sent_kib_send_run"] = sending[-1][1]
        r["rss_peak_kib_send_run"] = max(s[2] or 0 for s in send["samples"])
        r["kib_per_unit_sent"] = (sending[-1][1] - s_before) / units
        r["kib_per_unit_peak"] = (r["rss_peak_kib_send_run"] - s_before) / units
    if send.get("records") is not None and send.get("done_t") and send.get("create_t1"):
        # Its own 'Aggregated' msg/s divides by the whole run, creation and
        # shutdown included; its -time counts from 'Created N producers'.
        r["tput_seconds"] = send["done_t"] - send["create_t1"]
        r["tput_messages"] = send["records"]
        r["tput_msgs_per_s"] = send["records"] / r["tput_seconds"]
        r["java_aggregated_msgs_per_s"] = send.get("msgs_per_s")
    else:
        r["status"] = "error: no aggregated throughput: %s" % (
            send.get("first_error") or "exit %s" % send["exit"])
    if before and r.get("rss_idle_kib"):
        r["kib_per_unit_idle"] = (r["rss_idle_kib"] - before) / units
    return r


# ------------------------------------------------------------------ outputs

METRICS = ("create_seconds", "kib_per_unit_idle", "kib_per_unit_sent", "kib_per_unit_peak",
           "idle_cpu_pct", "msgs_per_s", "tput_msgs_per_s")
# Ratio peer/pulsarc for costs (greater: pulsarc uses less), pulsarc/peer for
# throughput (greater: pulsarc sends more).
COSTS = ("create_seconds", "kib_per_unit_idle", "kib_per_unit_sent", "kib_per_unit_peak",
         "idle_cpu_pct")


def medians(rows):
    ok = [r for r in rows if r.get("status", "").startswith("ok")]
    out = dict(runs=len(ok), runs_tried=len(rows),
               status="ok" if ok and len(ok) == len(rows) else
               ("ok (%d of %d runs)" % (len(ok), len(rows)) if ok else
                (rows[-1]["status"] if rows else "not run")))
    for k in METRICS:
        vals = [r[k] for r in ok if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    return out


def fmt(v, nd=1):
    if v is None:
        return ""
    if abs(v) >= 1000:
        return "%.0f" % v
    return ("%%.%df" % nd) % v


def summary_md(meta, table):
    L = ["# %s: pulsarc, Go, Java (issue #13 item 2)" % meta["title"], "",
         "- date: %s, git %s, %.0f s total" % (meta["date"], meta["git"], meta["seconds_total"]),
         "- command: `%s`" % meta["command"],
         "- broker: %s" % meta["broker"],
         "- machine: %s (%s cores), load average before / after: %s / %s" % (
             meta["machine"]["cpu"], meta["machine"]["nproc"], meta["loadavg_before"],
             meta["loadavg_after"]),
         "- RSS taken %d ms after creation and %d ms after the last receipt (pulsarc, Go); "
         "idle CPU over %d s; throughput phase %g s of 100 B messages, round robin over all "
         "producers (partitions)" % (meta["settle_ms"], meta["settle_ms"], meta["idle_s"],
                                     meta["duration_s"]),
         "- clients: " + "; ".join("%s: %s" % kv for kv in meta["clients"].items()), "",
         "Medians of the runs that succeeded. KiB per unit = (RSS - RSS before creation) / "
         "producers (or partitions). Ratios: peer / pulsarc for create time, memory and idle "
         "CPU, pulsarc / peer for throughput (above 1: pulsarc better); no idle CPU ratio when "
         "pulsarc's is under 0.05% of a core (compare the absolute figures).", "",
         "| shape | client | runs | create s | KiB/unit idle | KiB/unit sent | KiB/unit peak | "
         "idle CPU % | one-each msg/s | tput msg/s | status |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        L.append("| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["shape"], row["client"], row["runs"], row["runs_tried"],
            fmt(row["create_seconds"], 2), fmt(row["kib_per_unit_idle"]),
            fmt(row["kib_per_unit_sent"]), fmt(row["kib_per_unit_peak"]),
            fmt(row["idle_cpu_pct"], 2), fmt(row["msgs_per_s"], 0), fmt(row["tput_msgs_per_s"], 0),
            row["status"][:160].replace("|", "/")))
    L += ["", "## Ratios", "",
          "| shape | peer | against | create time | KiB idle | KiB sent | KiB peak | idle CPU | "
          "throughput |",
          "|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        if row["client"].startswith("pulsarc") or not row.get("ratios"):
            continue
        rt = row["ratios"]
        L.append("| %s | %s | %s | %s |" % (row["shape"], row["client"], row["ratios_against"],
                                            " | ".join(
            ("%.2fx" % rt[k]) if rt.get(k) else "" for k in COSTS[:4] + ("idle_cpu_pct",
                                                                       "tput_msgs_per_s"))))
    L += ["", "Notes:"] + ["- " + n for n in meta["notes"]]
    return "\n".join(L) + "\n"


NOTES = [
    "pulsarc and Go measure themselves in-process (VmRSS/VmHWM, getrusage); Java is read "
    "from /proc/<pid> by this script every 0.1 s.",
    "Java has no idle phase (pulsar-perf refuses --rate 0): its 'idle' figures come from a run "
    "at --rate 1 (one message per second over all topics), RSS taken settle-ms after its "
    "'Created N producers' line, CPU over idle-s after that. Its 'sent' and 'peak' figures "
    "come from a second, unthrottled run: RSS at the last sample before its -time ended "
    "(still sending, not after the last receipt), peak = the largest VmHWM seen. Its "
    "'one-each msg/s' is not measurable (pulsar-perf has no such phase). Java RSS includes "
    "the JVM heap as the GC left it (-Xmx1g).",
    "Java's create time is from its first 'Adding 1 publishers' log line to 'Created N "
    "producers' (its own timestamps); Go's is from the first CreateProducer call (one "
    "goroutine each) to the last return; pulsarc's from the first create_cb to the last "
    "ready callback. Java and Go log lines per producer at their default INFO level (sent "
    "to a file); that cost is in their figures, as a new user would have it.",
    "Java's throughput: the records its 'Aggregated throughput stats' line counts (sent by "
    "the time the client closed) over the time from its 'Created N producers' line to its "
    "'DONE (reached the maximum duration)' line (its -time counts from creation; its own "
    "aggregated msg/s divides by the whole run, JVM start and creation included, and is kept "
    "in results.json as java_aggregated_msgs_per_s). pulsarc's and Go's: messages sent for --duration s, round "
    "robin over all producers from one thread, divided by the time to the last receipt. "
    "Partitioned topic routing: rows 'pulsarc' and Go round robin per message (a custom "
    "router); row 'pulsarc-default' uses pulsarc's default routing (round robin switching "
    "partition once per batch) like pulsar-perf's default router. Ratios: Java against "
    "'pulsarc-default' on the partitioned shape, every other peer against 'pulsarc'.",
]


summary_md_cached = [""]


def write_outputs(a, clients, shapes, got, why, bins, load0, out):
    """results.json and summary.md from the runs so far (written after every
    run, so a stopped bench keeps what it measured)."""
    table = []
    for shape in shapes:
        mine = {}
        for c in shape_clients(shape, clients, a.routings):
            row = dict(shape="%d %s" % (a.producers if shape == "producers" else a.partitions,
                                        "producers" if shape == "producers" else "partitions"),
                       client=c, **medians(got[(shape, c)]))
            if why.get(c):
                row["status"] = "error: " + why[c]
            if c.startswith("pulsarc"):
                mine[c] = row
            elif mine:
                base = mine.get(base_row(shape, c)) or next(iter(mine.values()))
                row["ratios_against"] = base["client"]
                rt = {}
                for k in COSTS:
                    # Below 0.05% of a core pulsarc's idle CPU is at the
                    # resolution of the counters: compare the absolutes.
                    if k == "idle_cpu_pct" and (base.get(k) or 0) < 0.05:
                        continue
                    if row.get(k) and base.get(k):
                        rt[k] = row[k] / base[k]
                if row.get("tput_msgs_per_s") and base.get("tput_msgs_per_s"):
                    rt["tput_msgs_per_s"] = base["tput_msgs_per_s"] / row["tput_msgs_per_s"]
                row["ratios"] = rt
            row["per_run"] = got[(shape, c)]
            table.append(row)
    import run as runmod  # bench/run.py: machine(), git_rev()
    meta = dict(mode="many-producers",
                title="One producer on many partitions" if shapes == ["partitions"] else
                "Many producers on one client",
                command=" ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
                date=datetime.datetime.now().isoformat(timespec="seconds"),
                seconds_total=round(time.time() - T0, 1), runs=a.runs, producers=a.producers,
                partitions=a.partitions, settle_ms=a.settle_ms, idle_s=a.idle_s,
                duration_s=a.duration, loadavg_before=[round(x, 2) for x in load0],
                loadavg_after=[round(x, 2) for x in os.getloadavg()],
                machine=runmod.machine(), git=runmod.git_rev(),
                broker="pulsarc test broker (tools/testbroker, stand-alone process, "
                       "--retain-bytes 0), one for all runs",
                clients=dict(pulsarc="pulsarc-many-producers (%s)" % os.path.relpath(
                    bins["mp"], ROOT),
                             **({"pulsarc-default": "the same, --routing default"}
                                if "default" in a.routings and "partitions" in shapes else {}),
                             go="pulsar-client-go %s (bench/peers/go/many_producers)" %
                                peer_clients.GO_VERSION,
                             java="pulsar-perf produce (pulsar-testclient, bench/peers/java/pom.xml)"),
                notes=NOTES)
    for c in clients:
        if why.get(c):
            meta["clients"][c] += " - not run: " + why[c]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(meta=meta, rows=table), f, indent=1)
    md = summary_md(meta, table)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(md)
    summary_md_cached[0] = md
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--producers", type=int, default=10000)
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", default="pulsarc,go,java")
    ap.add_argument("--shapes", default="producers,partitions")
    ap.add_argument("--pulsarc-routings", dest="routings", default="per-message,default",
                    help="pulsarc's rows on the partitioned shape: keyless messages round robin "
                         "per message (custom router) and/or pulsarc's default routing")
    ap.add_argument("--settle-ms", type=int, default=2000)
    ap.add_argument("--idle-s", type=int, default=10)
    ap.add_argument("--duration", type=float, default=10, help="throughput phase, s")
    ap.add_argument("--timeout", type=int, default=900, help="bound per client run, s")
    ap.add_argument("--create-timeout", type=int, default=300,
                    help="Go: bound on creating all producers, s")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    clients = a.clients.split(",")
    shapes = a.shapes.split(",")
    a.routings = a.routings.split(",")
    if not a.routings or any(r not in ("per-message", "default") for r in a.routings):
        sys.exit("many_producers: --pulsarc-routings takes per-message and/or default")
    bins = build(a)
    why = dict(pulsarc=None)
    if "go" in clients:
        why["go"] = build_go()
    if "java" in clients:
        why["java"] = None if os.path.exists(peer_clients.JAVA_CP) else peer_clients.fetch(log).get("java")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    out = a.out or os.path.join(BENCH, "results", "many-producers-%s" % stamp)
    os.makedirs(out, exist_ok=True)
    load0 = os.getloadavg()
    part_topics = ["mp-part-%s-r%d-%d" % (c, r, os.getpid())
                   for c in shape_clients("partitions", clients, a.routings) for r in range(a.runs)]
    tb, a.url = start_broker(bins, part_topics, a.partitions)
    log("test broker", a.url)
    got = {(s, c): [] for s in shapes for c in shape_clients(s, clients, a.routings)}
    try:
        for rnd in range(a.runs):
            for shape in shapes:
                n = a.producers if shape == "producers" else a.partitions
                for c in shape_clients(shape, clients, a.routings):
                    if why.get(c):
                        continue
                    topic = ("mp-part-%s-r%d-%d" % (c, rnd, os.getpid()) if shape == "partitions"
                             else "mp-%s-r%d-%d" % (c, rnd, os.getpid()))
                    t = time.time()
                    r = (run_pulsarc(bins, a, shape, n, topic) if c == "pulsarc" else
                         run_pulsarc(bins, a, shape, n, topic, "default")
                         if c == "pulsarc-default" else
                         run_go(a, shape, n, topic) if c == "go" else run_java(a, shape, n, topic))
                    r.update(run=rnd + 1, wall_s=round(time.time() - t, 1),
                             load1=round(os.getloadavg()[0], 2))
                    got[(shape, c)].append(r)
                    log("run %d/%d %-10s %-7s %s: create %s s, KiB/unit idle %s sent %s peak %s, "
                        "idle CPU %s%%, tput %s msg/s (%.0f s)" % (
                            rnd + 1, a.runs, shape, c, r["status"][:200],
                            fmt(r.get("create_seconds"), 2), fmt(r.get("kib_per_unit_idle")),
                            fmt(r.get("kib_per_unit_sent")), fmt(r.get("kib_per_unit_peak")),
                            fmt(r.get("idle_cpu_pct"), 2), fmt(r.get("tput_msgs_per_s"), 0),
                            r["wall_s"]))
                    write_outputs(a, clients, shapes, got, why, bins, load0, out)
                    if tb.poll() is not None:
                        raise RuntimeError("the test broker exited (%s)" % tb.returncode)
    except (RuntimeError, KeyboardInterrupt) as e:
        log("stopped:", e)
    finally:
        tb.send_signal(signal.SIGTERM)
        try:
            tb.wait(timeout=20)
        except subprocess.TimeoutExpired:
            tb.kill()
    table = write_outputs(a, clients, shapes, got, why, bins, load0, out)
    print(summary_md_cached[0])
    log("wrote", out)
    return 0 if all(r["status"] == "ok" for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
