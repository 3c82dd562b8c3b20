#!/usr/bin/env python3
"""pulsarc bench: the knob matrix, its baselines and the plots.

Varies one knob at a time from the defaults (100-byte messages, batching on
with 1000 messages / 128 KiB / 10 ms, no compression, 1 application thread,
1 producer, --max-pending 10000) and runs pulsarc-perf for each point,
against the embedded test broker (default) or --service-url. In the same run
it measures the baselines every figure is divided by:
  raw writer   bench/rawwriter.c: pre-encoded SEND frames through one socket
               into the same kind of broker (the wire limit), and its
               one-message request/response round trip;
  codec speed  bench/codecspeed.c: each compression library on the same
               batch bodies;
  peers        (--full only) the official Java pulsar-perf, the Go client's
               perf tool and the official Python client, same broker, same
               settings; in both modes (unless --no-peers) the official
               C++ client's and Python client's BLOCKING send at 1, 4 and
               16 threads beside pulsarc's, on one stand-alone test broker.
Writes results.csv, results.json, baselines.json, summary.md and plots
(SVG + PNG, gnuplot) into the output directory.

  bench/run.py --quick     about 3 minutes; of the peers only the blocking-send
                           ones (C++ and Python clients from the interop venv)
  bench/run.py --full      states its expected duration first
  bench/run.py --real-broker
                           opt-in, not in CI: async sends, batching on, at 100 B
                           and 16 KiB from pulsarc-perf, the Java pulsar-perf,
                           the official C++ client (C API send_async) and the
                           official Python client against ONE real Pulsar
                           standalone; msg/s and client CPU per message,
                           medians of 3 (about 10 minutes)

Python 3 standard library only.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "pulsarc", "bench")

DEFAULTS = dict(size=100, batching=True, bmm=1000, bmb=131072, delay=10, compression="none",
                threads=1, producers=1, max_pending=10000, conf="", payload="pattern",
                blocking=False)
CODECS = ["none", "lz4", "zstd", "snappy", "zlib"]
BATCH_MSGS = [10, 100, 1000, 10000]

COLUMNS = ["group", "knob", "value", "size", "batching", "batch_max_messages", "batch_max_bytes",
           "batch_max_delay_ms", "compression", "payload", "blocking", "threads", "producers", "max_pending", "runs",
           "status", "msgs_per_sec", "mb_per_sec", "wire_mb_per_sec", "compression_ratio",
           "cpu_s_per_million", "p50_us", "p99_us", "p999_us", "errors", "mean_batch",
           "vs_raw_writer", "vs_codec_raw", "baseline"]


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ plan

def point(group, knob, value, runs=1, **over):
    cfg = dict(DEFAULTS)
    cfg.update(over)
    return dict(group=group, knob=knob, value=str(value), cfg=cfg, runs=runs)


def threads_label(n):
    return "1 thread" if n == 1 else "%d threads" % n


def plan(mode):
    """The matrix: one knob at a time, then the batch x codec cross for plots."""
    r3 = 3  # medians of 3 where the issue asks for them (16 vs 1 thread)
    rt = r3 if mode == "full" else 1  # target points: medians of 3 in full mode
    pts = [point("default", "default", "defaults")]
    for s in (16, 1024, 16384):
        pts.append(point("size", "size", s, size=s))
    pts.append(point("batching", "batching", "off", batching=False))
    for m in (10, 100, 10000):
        pts.append(point("batching", "batch_max_messages", m, bmm=m))
    pts.append(point("batching", "batch_max_bytes", 1048576, bmb=1048576))
    pts.append(point("batching", "batch_max_delay_ms", 1, delay=1))
    for c in CODECS[1:]:
        pts.append(point("compression", "compression", c, compression=c))
    # Where compression, not the pipeline, is the larger cost per message.
    pts.append(point("compression", "compression, 16 KiB", "lz4", compression="lz4", size=16384))
    # The default payload compresses far beyond real data; the same codecs on
    # text that compresses about like logs or JSON (tools/perf/payload.h).
    # lz4 and zstd on text are targets (issue #13 item 3): medians of 3 in full mode.
    for c in CODECS:
        pts.append(point("compression", "compression, text payload", c, compression=c,
                         payload="text", runs=rt if c in ("lz4", "zstd") else 1))
    for c in ("lz4", "zstd"):
        pts.append(point("compression", "compression, text payload, 16 KiB", c, runs=rt,
                         compression=c, size=16384, payload="text"))
    # The text rows again with the compress call on one worker thread
    # (client option compression_threads=1), to set against the rows above.
    for s in (100, 16384):
        for c in ("lz4", "zstd"):
            pts.append(point("compression", "compression_threads=1, text, %s" % (
                "100 B" if s == 100 else "16 KiB"), c, runs=rt, compression=c, size=s,
                payload="text", conf="client.compression_threads=1"))
    # A faster level than the default (no raw codec ratio: codec speed runs level 3).
    for s in (100, 16384):
        pts.append(point("compression", "compression_level=1, text, %s" % (
            "100 B" if s == 100 else "16 KiB"), "zstd", compression="zstd", size=s,
            payload="text", conf="compression_level=1"))
    pts.append(point("threads", "threads", 1, runs=r3, threads=1))
    pts.append(point("threads", "threads", 4, threads=4))
    pts.append(point("threads", "threads", 16, runs=r3, threads=16))
    pts.append(point("producers", "producers", 4, producers=4))
    # The headline configuration: 100 B, batching on, 1 producer, 4 threads.
    pts.append(point("target", "100B batched 4 threads", "target", runs=rt,
                     threads=4))
    pts.append(point("target", "16KiB batched 4 threads", "target", runs=rt,
                     threads=4, size=16384))
    # The same with a 4 MiB client memory limit: fewer queued copies, which
    # then are still in cache when the I/O thread writes them.
    pts.append(point("target", "16KiB batched 4 threads", "memory_limit_bytes=4194304",
                     runs=rt, threads=4, size=16384,
                     conf="client.memory_limit_bytes=4194304"))
    # Blocking unbatched send (pulsarc_producer_send, one thread): the whole
    # call, against the raw round trip. Max-pending 1 does not change it.
    pts.append(point("latency", "unbatched blocking send", "defaults",
                     runs=rt, batching=False, blocking=True,
                     max_pending=1))
    # The same with the I/O thread polling 100 us before it sleeps.
    pts.append(point("latency", "unbatched blocking send", "io_busy_poll_us=100",
                     batching=False, blocking=True, max_pending=1,
                     conf="client.io_busy_poll_us=100"))
    # Blocking send with the default options (batching on: 1000 messages /
    # 128 KiB / 10 ms, io_busy_poll_us=0): group commit seals a batch as soon
    # as the rings are drained, so one thread should see about the round
    # trip and 16 threads should share entries (mean_batch, from the
    # embedded broker's counts).
    for n in (1, 4, 16):
        pts.append(point("blocking", "blocking send, batched", threads_label(n),
                         runs=rt, blocking=True, threads=n))
    # send_cb with a queue of one: the stamp is taken before the call, which
    # waits for the previous message's receipt, so this also counts time
    # queued behind it (about one more round trip).
    pts.append(point("latency", "unbatched send_cb, max_pending=1", "max_pending=1",
                     batching=False, max_pending=1))
    # Batch size x codec (100 B), for the plots.
    for c in CODECS:
        for m in BATCH_MSGS:
            if (c == "none" and m in (10, 100, 10000)) or (m == 1000):
                continue  # already in the knob rows above
            pts.append(point("cross", "batch_max_messages x compression", "%d/%s" % (m, c),
                             bmm=m, compression=c))
    if mode == "full":
        for p in pts:
            p["runs"] = max(p["runs"], 3)
    return pts


# ------------------------------------------------------------------ build

def build(build_dir, skip):
    bins = {n: os.path.join(build_dir, p) for n, p in (
        ("perf", "tools/perf/pulsarc-perf"), ("raw", "bench/pulsarc-rawwriter"),
        ("codec", "bench/pulsarc-codecspeed"), ("tb", "tools/testbroker/pulsarc-testbroker"),
        ("wakes", "bench/pulsarc-wakes"), ("crosscore", "bench/pulsarc-crosscore"))}
    if not skip:
        if not os.path.exists(os.path.join(build_dir, "build.ninja")):
            subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=Release", "-DPULSARC_BUILD_TESTS=OFF"],
                           check=True, stdout=subprocess.DEVNULL)
        log("building (ninja -j2) in", build_dir)
        subprocess.run(["ninja", "-C", build_dir, "-j2", "pulsarc-perf", "pulsarc-rawwriter",
                        "pulsarc-codecspeed", "pulsarc-testbroker", "pulsarc-wakes",
                        "pulsarc-crosscore"], check=True,
                       stdout=subprocess.DEVNULL)
    for n, p in bins.items():
        if not os.access(p, os.X_OK):
            sys.exit("bench: %s not built (%s)" % (n, p))
    return bins


# ------------------------------------------------------------------ runners

def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def perf_args(cfg, url, dur, warm):
    a = ["--json", "--quiet", "--duration", str(dur), "--warmup", str(warm),
         "--size", str(cfg["size"]), "--threads", str(cfg["threads"]),
         "--producers", str(cfg["producers"]), "--max-pending", str(cfg["max_pending"])]
    if cfg["batching"]:
        a += ["--batch-max-messages", str(cfg["bmm"]), "--batch-max-bytes", str(cfg["bmb"]),
              "--batch-max-delay-ms", str(cfg["delay"])]
    else:
        a += ["--no-batching"]
    if cfg["compression"] != "none":
        a += ["--compression", cfg["compression"]]
    if cfg.get("conf"):
        a += ["--conf", cfg["conf"]]
    if cfg.get("payload", "pattern") != "pattern":
        a += ["--payload", cfg["payload"]]
    if cfg.get("blocking"):
        a += ["--blocking"]
    if cfg.get("topic"):
        a += ["--topic", cfg["topic"]]
    if url:
        a += ["--service-url", url]
    return a


def run_perf(bins, cfg, url, dur, warm):
    """One pulsarc-perf run: (metrics dict, None) or (None, status)."""
    cmd = [bins["perf"]] + perf_args(cfg, url, dur, warm)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 120)
    except subprocess.TimeoutExpired:
        return None, "error: timed out"
    j = last_json(p.stdout)
    err = p.stderr.lower()
    if j is None or p.returncode != 0 and not j.get("messages"):
        if "not supported" in err or "not implemented" in err:
            return None, "n/a (not supported)"
        tail = [l for l in p.stderr.strip().splitlines() if l.strip()]
        return None, "error: " + (tail[-1][:160] if tail else "exit %d" % p.returncode)
    m = dict(msgs_per_sec=j["msgs_per_sec"], mb_per_sec=j["mb_per_sec"],
             wire_mb_per_sec=j.get("wire_mb_per_sec"),
             cpu_s_per_million=(j["client_cpu_seconds"] / j["messages"] * 1e6
                                if j["messages"] else None),
             p50_us=j["latency_us"]["p50"], p99_us=j["latency_us"]["p99"],
             p999_us=j["latency_us"]["p999"], errors=j["errors"],
             mean_batch=j.get("mean_batch"), sent_total=j.get("sent_total"))
    if m["wire_mb_per_sec"]:
        m["compression_ratio"] = m["mb_per_sec"] / m["wire_mb_per_sec"]
    return m, "ok" if j["errors"] == 0 else "ok (%d errors)" % j["errors"]


def cross_core_ns(bins):
    """The machine's cache-line round trip between CPUs 0 and 1 now (bench/crosscore.c):
    CPU per message follows it, and it moves from hour to hour on a VM."""
    try:
        p = subprocess.run([bins["crosscore"]], capture_output=True, text=True, timeout=60)
        return (last_json(p.stdout) or {}).get("round_trip_ns")
    except (OSError, subprocess.TimeoutExpired):
        return None


def median_metrics(runs):
    out = {}
    for k in runs[0]:
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
        out[k] = statistics.median(vals) if vals else None
    return out


def run_raw(bins, cfg, url, dur, warm, rtt=False):
    cmd = [bins["raw"], "--json", "--duration", str(dur), "--warmup", str(warm),
           "--size", str(cfg["size"]), "--batch-max-messages", str(cfg["bmm"]),
           "--batch-max-bytes", str(cfg["bmb"]), "--max-pending", str(cfg["max_pending"])]
    if not cfg["batching"]:
        cmd.append("--no-batching")
    if rtt:
        cmd.append("--rtt")
    if url:
        cmd += ["--service-url", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 60)
    j = last_json(p.stdout)
    if p.returncode or not j:
        return {"status": "error: " + p.stderr.strip()[-160:]}
    j["status"] = "ok"
    return j


def run_codec(bins, size, bmm, bmb, secs, payload="pattern"):
    p = subprocess.run([bins["codec"], "--size", str(size), "--batch-max-messages", str(bmm),
                        "--batch-max-bytes", str(bmb), "--seconds", str(secs),
                        "--payload", payload],
                       capture_output=True, text=True, timeout=120)
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def raw_key(cfg):
    return (cfg["size"], cfg["batching"], cfg["bmm"] if cfg["batching"] else 1,
            cfg["bmb"] if cfg["batching"] else 0, cfg["max_pending"])


# ------------------------------------------------------------------ main run

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="short runs; of the peers only the blocking-send ones (default)")
    g.add_argument("--full", action="store_true", help="long runs, medians of 3, peer clients")
    g.add_argument("--real-broker", action="store_true",
                   help="only the real-broker group (see above): starts and stops a Pulsar "
                        "standalone (JVM)")
    ap.add_argument("--runs", type=int, default=3, help="--real-broker: runs per point (median)")
    ap.add_argument("--service-url", help="broker to use instead of the embedded test broker")
    ap.add_argument("--out", help="output dir (default bench/results/<mode>-<date>)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries as built")
    ap.add_argument("--duration", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--no-peers", action="store_true",
                    help="no peer clients (full mode's, and the blocking-send peers of both modes)")
    ap.add_argument("--plan", action="store_true", help="print the plan and its duration, exit")
    ap.add_argument("--render", metavar="DIR",
                    help="rewrite summary, targets and plots of DIR from its results.json "
                         "(no measuring)")
    a = ap.parse_args()
    if a.render:
        return render(a.render)
    if a.real_broker:
        return real_broker_main(a)
    mode = "full" if a.full else "quick"
    dur = a.duration or (10.0 if mode == "full" else 1.0)
    warm = a.warmup if a.warmup is not None else (2.0 if mode == "full" else 0.3)
    pts = plan(mode)
    nruns = sum(p["runs"] for p in pts)
    raw_cfgs = {}
    for p in pts:
        c = p["cfg"]
        if c["compression"] == "none" and (mode == "full" or p["group"] in (
                "default", "size", "batching", "cross", "target")):
            raw_cfgs.setdefault(raw_key(c), c)
    per_run = dur + warm + 0.6
    est = nruns * per_run + (len(raw_cfgs) + 1) * (dur + warm + 0.3) + 20 * 0.3
    peers = mode == "full" and not a.no_peers
    if peers:
        est += 3 * 6 * (dur + 20)  # 6 peer points x 3 clients, JVM/Go start-up included
    blocking_peers = not a.no_peers
    if blocking_peers:  # 3 thread counts x 3 clients, runs each (start-up ~1 s)
        est += 9 * (3 if mode == "full" else 1) * (dur + warm + 1.5)
    log("%s mode: %d pulsarc-perf runs of %.1f+%.1f s, %d raw-writer runs, codec speed%s: "
        "expected duration about %.0f min %.0f s (plus build time)"
        % (mode, nruns, warm, dur, len(raw_cfgs) + 1, ", peers" if peers else "", est // 60,
           est % 60))
    if a.plan:
        for p in pts:
            log("  %-12s %-34s %-14s runs=%d" % (p["group"], p["knob"], p["value"], p["runs"]))
        return 0
    bins = build(a.build_dir, a.no_build)
    rev = git_rev()  # what was built: the tree may change during a long run
    xcore0 = cross_core_ns(bins)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    out = a.out or os.path.join(BENCH, "results", "%s-%s" % (mode, stamp))
    os.makedirs(out, exist_ok=True)
    t_start = time.time()
    load0 = os.getloadavg()

    # Baselines first: codec speed and raw writer.
    base = {"codec": [], "raw": {}, "rtt": None, "peers": [], "blocking_peers": []}
    codec_cfgs = sorted({(p["cfg"]["size"], p["cfg"]["bmm"], p["cfg"]["bmb"], p["cfg"]["payload"])
                         for p in pts
                         if p["cfg"]["compression"] != "none" or p["group"] == "cross"})
    for size, bmm, bmb, payload in codec_cfgs:
        base["codec"] += run_codec(bins, size, bmm, bmb, 0.5 if mode == "full" else 0.15, payload)
    log("codec speed: %d figures" % len(base["codec"]))
    for k, c in raw_cfgs.items():
        r = run_raw(bins, c, a.service_url, dur, warm)
        base["raw"][k] = r
        log("raw writer %s: %s msg/s %s MB/s" % (k, r.get("msgs_per_sec"), r.get("mb_per_sec")))
    base["rtt"] = run_raw(bins, dict(DEFAULTS, batching=False), a.service_url, dur, warm, rtt=True)
    log("raw round trip: p50 %s us" % base["rtt"].get("latency_us", {}).get("p50"))
    # I/O-thread wake-ups per message (was a hot-path test assertion).
    p = subprocess.run([bins["wakes"], "200000"], capture_output=True, text=True, timeout=300)
    base["wakes"] = last_json(p.stdout) or {"status": "error: " + p.stderr.strip()[-160:]}
    log("wake ratio: %s eventfd writes per 100 messages"
        % base["wakes"].get("eventfd_writes_per_100_messages"))

    rows = []
    for i, p in enumerate(pts):
        c = p["cfg"]
        got, status = [], None
        for _ in range(p["runs"]):
            m, st = run_perf(bins, c, a.service_url, dur, warm)
            if m is None:
                status = st
                break
            got.append(m)
            status = st
        row = dict(group=p["group"], knob=p["knob"], value=p["value"], size=c["size"],
                   batching=c["batching"], batch_max_messages=c["bmm"] if c["batching"] else "",
                   batch_max_bytes=c["bmb"] if c["batching"] else "",
                   batch_max_delay_ms=c["delay"] if c["batching"] else "",
                   compression=c["compression"], payload=c["payload"],
                   blocking=c["blocking"], threads=c["threads"],
                   producers=c["producers"],
                   max_pending=c["max_pending"], runs=len(got), status=status)
        if got:
            row.update(median_metrics(got))
            if len(got) > 1:  # each run's figure: a median hides a disturbed run
                row["msgs_per_sec_runs"] = [round(m["msgs_per_sec"]) for m in got]
            raw = base["raw"].get(raw_key(c))
            # Blocking batched rows are compared with the round trip instead
            # (targets): the pipelined raw writer is no limit for them.
            if raw and raw.get("msgs_per_sec") and p["group"] != "blocking":
                row["vs_raw_writer"] = row["msgs_per_sec"] / raw["msgs_per_sec"]
            cs = [x for x in base["codec"] if x["codec"] == c["compression"] and
                  x["size"] == c["size"] and c["batching"] and
                  x.get("payload", "pattern") == c["payload"] and
                  x["msgs_per_batch"] == max(1, min(c["bmm"], c["bmb"] // (c["size"] + 16)))]
            if cs and "compression_level" not in c.get("conf", ""):
                row["vs_codec_raw"] = row["msgs_per_sec"] / cs[0]["msgs_per_sec"]
        rows.append(row)
        log("%2d/%d %-11s %-34s %-14s %s %s" % (
            i + 1, len(pts), p["group"], p["knob"], p["value"], status,
            "%.0f msg/s" % row["msgs_per_sec"] if row.get("msgs_per_sec") else ""))

    if peers:
        import peer_clients  # bench/peer_clients.py
        base["peers"] = peer_clients.run_all(bins, dur, warm, log)
    if blocking_peers:
        import peer_clients  # bench/peer_clients.py
        base["blocking_peers"] = peer_clients.run_blocking(bins, dur, warm, log,
                                                           3 if mode == "full" else 1)

    meta = dict(mode=mode, command=" ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
                date=datetime.datetime.now().isoformat(timespec="seconds"),
                duration_per_run_s=dur, warmup_s=warm, seconds_total=round(time.time() - t_start, 1),
                loadavg_before=[round(x, 2) for x in load0],
                loadavg_after=[round(x, 2) for x in os.getloadavg()],
                machine=machine(), broker=a.service_url or "embedded test broker (in-process)",
                git=rev, cross_core_rt_ns=[xcore0, cross_core_ns(bins)])
    write_outputs(out, meta, rows, base)
    log("wrote %s in %.0f s" % (out, time.time() - t_start))
    return 0


def real_broker_main(a):
    """bench/run.py --real-broker: the group of peer_clients.run_real_broker."""
    import peer_clients  # bench/peer_clients.py
    dur = a.duration or 10.0
    warm = a.warmup if a.warmup is not None else 5.0
    log("real-broker group: 2 sizes x 4 clients x %d runs of %.0f s after %.0f s warm-up "
        "(plus start-up); expected about %.0f min" % (
            a.runs, dur, warm, 8 * a.runs * (dur + warm + 6) / 60 + 1))
    bins = build(a.build_dir, a.no_build)
    rev = git_rev()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    out = a.out or os.path.join(BENCH, "results", "real-broker-%s" % stamp)
    os.makedirs(out, exist_ok=True)
    t_start, load0 = time.time(), os.getloadavg()
    rows, info = peer_clients.run_real_broker(bins, dur, warm, a.runs, log)
    meta = dict(mode="real-broker",
                command=" ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
                date=datetime.datetime.now().isoformat(timespec="seconds"),
                duration_per_run_s=dur, warmup_s=warm, runs=a.runs,
                seconds_total=round(time.time() - t_start, 1),
                loadavg_before=[round(x, 2) for x in load0],
                loadavg_after=[round(x, 2) for x in os.getloadavg()],
                machine=machine(), git=rev, **info)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    md = real_broker_md(meta, rows)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    log("wrote %s in %.0f s" % (out, time.time() - t_start))
    return 0 if rows and all(r["status"] == "ok" for r in rows) else 1


REAL_NAMES = dict(pulsarc="pulsarc (pulsarc-perf)", java="Java pulsar-perf produce",
                  cpp="C++ client (C API send_async)", python="Python client (send_async)")


def real_broker_md(meta, rows):
    L = ["# pulsarc bench: real broker, async batched sends", "",
         "- command: `%s`" % meta["command"],
         "- date: %s, git %s, %.0f s total" % (meta["date"], meta["git"], meta["seconds_total"]),
         "- machine: %d CPUs, %s, Linux %s (broker and client share it)" % (
             meta["machine"]["nproc"], meta["machine"]["cpu"], meta["machine"]["kernel"]),
         "- load average before / after: %s / %s" % (meta["loadavg_before"],
                                                     meta["loadavg_after"]),
         "- broker: %s" % meta.get("broker"),
         "- each run: one client process, one producer, one application thread, async sends, "
         "batching 1000 msgs / 128 KiB / 10 ms, max pending 10000; %.0f s warm-up after the "
         "first message reaches the broker (this also excludes the JVM's JIT warm-up), then a "
         "%.0f s window; medians of %d runs, rounds interleave the clients" % (
             meta["warmup_s"], meta["duration_per_run_s"], meta["runs"]),
         "- msg/s: the broker's msgInCounter for the client's topic over the window; client "
         "CPU: user+sys of the client process (all threads, /proc/<pid>/stat) over the same "
         "window, divided by those messages; broker CPU likewise for the broker's JVM",
         "- CPU/msg vs pulsarc: the peer's client CPU per message over pulsarc's (above 1: "
         "the peer needs more CPU per message)", "",
         "| size | client | msg/s | MB/s | client CPU ns/msg | client cores | broker CPU ns/msg "
         "| CPU/msg vs pulsarc | msg/s vs pulsarc | runs | status |",
         "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        L.append("| %s |" % " | ".join([
            "100 B" if r["size"] == 100 else "16 KiB", REAL_NAMES.get(r["client"], r["client"]),
            fmt(r.get("msgs_per_sec")), fmt(r.get("mb_per_sec")),
            fmt(r.get("client_ns_per_msg")), fmt(r.get("client_cores")),
            fmt(r.get("broker_ns_per_msg")),
            "%.2fx" % r["cpu_per_msg_vs_pulsarc"] if r.get("cpu_per_msg_vs_pulsarc") else "",
            "%.2fx" % r["msgs_per_sec_vs_pulsarc"] if r.get("msgs_per_sec_vs_pulsarc") else "",
            "%d/%d" % (r["runs"], r["runs_tried"]), r["status"]]))
    L += ["", "Client availability: " + ", ".join(
        "%s %s" % (c, s) for c, s in meta.get("clients", {}).items()), ""]
    return "\n".join(L) + "\n"


def render(out):
    with open(os.path.join(out, "results.json")) as f:
        j = json.load(f)
    b = j["baselines"]
    base = dict(codec=b["codec"], rtt=b["rtt"], peers=b["peers"],
                blocking_peers=b.get("blocking_peers", []), wakes=b.get("wakes"),
                raw={tuple(r["key"]): {k: v for k, v in r.items() if k != "key"}
                     for r in b["raw"]})
    write_outputs(out, j["meta"], j["rows"], base)
    log("re-rendered", out)
    return 0


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return dict(nproc=os.cpu_count(), cpu=model, kernel=platform.release())


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except OSError:
        return ""


# ------------------------------------------------------------------ outputs

def fmt(v):
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 10 else "%.0f" % v
    return str(v)


def ratios(rows, base):
    """The issue's targets, each with its measured value (no pass/fail)."""
    def find(group, knob=None, value=None):
        for r in rows:
            if r["group"] == group and (knob is None or r["knob"] == knob) and \
                    (value is None or r["value"] == value) and r.get("msgs_per_sec"):
                return r
        return None
    out = []
    t4 = find("target", "100B batched 4 threads")
    if t4:
        out.append(("100 B, batched, 1 producer, 4 threads: msg/s (target >= 2,300,000)",
                    "%.0f" % t4["msgs_per_sec"]))
        peers = [p for p in base.get("peers", []) if p.get("client") != "pulsarc" and
                 p.get("point") == "100B batched 4 threads" and p.get("msgs_per_sec")]
        best = max(peers, key=lambda p: p["msgs_per_sec"]) if peers else None
        # pulsarc measured against the peers' broker (a separate test broker
        # process, or a real broker), not the embedded one.
        mine = [p for p in base.get("peers", []) if p.get("client") == "pulsarc" and
                p.get("point") == "100B batched 4 threads" and p.get("msgs_per_sec") and
                best and p.get("broker") == best.get("broker")]
        out.append(("  / best peer client (target >= 3x)",
                    "%.2fx (pulsarc %.0f / %s %.0f msg/s, %s)" % (
                        mine[0]["msgs_per_sec"] / best["msgs_per_sec"], mine[0]["msgs_per_sec"],
                        best["client"], best["msgs_per_sec"], best.get("broker", "")) if mine
                    else "n/a (peers: --full)"))
        if t4.get("cpu_s_per_million") is not None:
            out.append(("client CPU per message at 100 B, 4 threads (target <= 300 ns)",
                        "%.0f ns" % (t4["cpu_s_per_million"] * 1000)))
    for value, label in (("target", "defaults"),
                         ("memory_limit_bytes=4194304", "memory_limit_bytes=4194304")):
        t16 = find("target", "16KiB batched 4 threads", value)
        if t16 and t16.get("vs_raw_writer"):
            out.append(("16 KiB: pulsarc MB/s / raw writer MB/s, %s (target >= 0.85)" % label,
                        "%.2f (%.0f / %.0f MB/s)" % (t16["vs_raw_writer"], t16["mb_per_sec"],
                                                    t16["mb_per_sec"] / t16["vs_raw_writer"])))
    for knob, label in (("compression", "100 B"), ("compression, 16 KiB", "16 KiB"),
                        ("compression, text payload", "100 B text"),
                        ("compression, text payload, 16 KiB", "16 KiB text")):
        for codec in ("lz4", "zstd") if "text" in knob else ("lz4",):
            r = find("compression", knob, codec)
            out.append(("%s, %s: pulsarc msg/s / raw %s msg/s (target >= 0.70)" % (
                codec, label, codec),
                "%.2f" % r["vs_codec_raw"] if r and r.get("vs_codec_raw") else "n/a"))
    for label in ("100 B", "16 KiB"):
        for codec in ("lz4", "zstd"):
            r = find("compression", "compression_threads=1, text, %s" % label, codec)
            if r and r.get("vs_codec_raw"):
                out.append(("%s, %s text, compression_threads=1: pulsarc msg/s / raw %s msg/s, "
                            "client CPU per message" % (codec, label, codec),
                            "%.2f, %.0f ns" % (r["vs_codec_raw"],
                                               (r.get("cpu_s_per_million") or 0) * 1000)))
    rtt = base.get("rtt") or {}
    for value, label in (("defaults", "defaults"),
                         ("io_busy_poll_us=100", "io_busy_poll_us=100")):
        lat = find("latency", "unbatched blocking send", value)
        if lat and rtt.get("latency_us", {}).get("p50"):
            out.append(("unbatched blocking send p50 / raw round trip p50, %s (target <= 1.3x)"
                        % label, "%.2fx (%.1f / %.1f us)" % (
                            lat["p50_us"] / rtt["latency_us"]["p50"], lat["p50_us"],
                            rtt["latency_us"]["p50"])))
    out += blocking_targets(find, rtt, base.get("blocking_peers", []))
    one, sixteen = find("threads", "threads", "1"), find("threads", "threads", "16")
    if one and sixteen:
        out.append(("16 threads / 1 thread msg/s, medians of 3 (target >= 0.9)",
                    "%.2f (%.0f / %.0f)" % (sixteen["msgs_per_sec"] / one["msgs_per_sec"],
                                           sixteen["msgs_per_sec"], one["msgs_per_sec"])))
    d = find("default")
    if d and d.get("vs_raw_writer"):
        out.append(("defaults (100 B, 1 thread): pulsarc / raw writer msg/s",
                    "%.2f" % d["vs_raw_writer"]))
    return out


def blocking_targets(find, rtt, bpeers):
    """Group commit (issue #13 item 1): blocking send with default batching."""
    out = []
    rows = {n: find("blocking", "blocking send, batched", threads_label(n)) for n in (1, 4, 16)}
    one, sixteen = rows[1], rows[16]
    rt = rtt.get("latency_us", {}).get("p50")
    if one and rt:
        out.append(("blocking send, batched, 1 thread: p50 / raw round trip p50 (target <= 1.3x)",
                    "%.2fx (%.1f / %.1f us)" % (one["p50_us"] / rt, one["p50_us"], rt)))
    unb = find("latency", "unbatched blocking send", "defaults")
    if one and unb and unb.get("p50_us"):
        out.append(("blocking send, batched, 1 thread: p50 / unbatched blocking send p50",
                    "%.2fx (%.1f / %.1f us)" % (one["p50_us"] / unb["p50_us"], one["p50_us"],
                                               unb["p50_us"])))
    if one and sixteen:
        out.append(("blocking send, batched: 16 threads / 1 thread msg/s (target >= 10x)",
                    "%.1fx (%.0f / %.0f)" % (sixteen["msgs_per_sec"] / one["msgs_per_sec"],
                                            sixteen["msgs_per_sec"], one["msgs_per_sec"])))
    got = [(n, r) for n, r in sorted(rows.items()) if r and r.get("mean_batch") is not None]
    if got:
        out.append(("blocking send, batched: mean batch (messages per entry) at %s threads"
                    % "/".join(str(n) for n, _ in got),
                    " / ".join("%.2f" % r["mean_batch"] for _, r in got)))
    for n in (1, 4, 16):
        mine = [p for p in bpeers if p.get("client") == "pulsarc" and p.get("threads") == n
                and p.get("msgs_per_sec")]
        for peer in ("cpp", "python"):
            theirs = [p for p in bpeers if p.get("client") == peer and p.get("threads") == n
                      and p.get("msgs_per_sec")]
            if mine and theirs:
                out.append(("blocking send, %d thread%s: pulsarc / official %s client msg/s "
                            "(same stand-alone test broker)" % (n, "s" if n > 1 else "",
                                                                 "C++" if peer == "cpp" else
                                                                 "Python"),
                            "%.2fx (%.0f / %.0f msg/s; p50 %.0f / %.0f us)" % (
                                mine[0]["msgs_per_sec"] / theirs[0]["msgs_per_sec"],
                                mine[0]["msgs_per_sec"], theirs[0]["msgs_per_sec"],
                                mine[0]["p50_us"], theirs[0]["p50_us"])))
    return out


def write_outputs(out, meta, rows, base):
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) if isinstance(r.get(k), float) else r.get(k, "")
                        for k in COLUMNS})
    base_json = dict(codec=base["codec"], rtt=base["rtt"], peers=base["peers"],
                     blocking_peers=base.get("blocking_peers", []), wakes=base.get("wakes"),
                     raw=[dict(v, key=list(k)) for k, v in base["raw"].items()])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows, baselines=base_json, targets=ratios(rows, base)), f,
                  indent=1)
    md = summary_md(meta, rows, base)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    plots(out, rows, base)


def summary_md(meta, rows, base):
    L = ["# pulsarc bench, %s mode" % meta["mode"], "",
         "- command: `%s`" % meta["command"],
         "- date: %s, git %s, %.0f s total" % (meta["date"], meta["git"], meta["seconds_total"]),
         "- machine: %d CPUs, %s, Linux %s" % (meta["machine"]["nproc"], meta["machine"]["cpu"],
                                              meta["machine"]["kernel"]),
         "- load average before / after: %s / %s" % (meta["loadavg_before"], meta["loadavg_after"]),
         "- cross-core cache-line round trip before / after (pulsarc-crosscore, CPUs 0 and 1; "
         "CPU per message follows it): %s" % (
             " / ".join("%s ns" % fmt(x) if x else "n/a" for x in meta["cross_core_rt_ns"])
             if meta.get("cross_core_rt_ns") else "not recorded (before 2026-12-06 14:00)"),
         "- broker: %s; %.1f s measured after %.1f s warm-up per run" % (
             meta["broker"], meta["duration_per_run_s"], meta["warmup_s"]), "",
         "| group | knob | value | msg/s | MB/s payload | MB/s wire | payload/wire | "
         "CPU s per M msgs | p50 us | p99 us | p99.9 us | msgs/entry | / raw writer | / raw codec "
         "| runs | status |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        L.append("| %s |" % " | ".join(fmt(r.get(k)) for k in (
            "group", "knob", "value", "msgs_per_sec", "mb_per_sec", "wire_mb_per_sec",
            "compression_ratio", "cpu_s_per_million", "p50_us", "p99_us", "p999_us",
            "mean_batch", "vs_raw_writer", "vs_codec_raw", "runs", "status")))
    L += ["", "## Baselines", "", "| raw writer: size | msgs/frame | msg/s | MB/s payload | MB/s wire |",
          "|---:|---:|---:|---:|---:|"]
    for k, v in base["raw"].items():
        if v.get("status") == "ok":
            L.append("| %d | %d | %.0f | %.1f | %.1f |" % (
                v["size"], v["msgs_per_frame"], v["msgs_per_sec"], v["mb_per_sec"],
                v["wire_mb_per_sec"]))
    rtt = base.get("rtt") or {}
    if rtt.get("latency_us"):
        L.append("")
        L.append("Raw request/response round trip (one 100 B SEND -> receipt): p50 %.1f us, "
                 "p99 %.1f us, p99.9 %.1f us." % (rtt["latency_us"]["p50"],
                                                  rtt["latency_us"]["p99"],
                                                  rtt["latency_us"]["p999"]))
    L += ["", "| codec | payload | size | msgs/batch | ratio | MB/s in | msg/s |",
          "|---|---|---:|---:|---:|---:|---:|"]
    for c in base["codec"]:
        L.append("| %s | %s | %d | %d | %.1f | %.0f | %.0f |" % (
            c["codec"], c.get("payload", "pattern"), c["size"], c["msgs_per_batch"], c["ratio"],
            c["mb_per_sec"], c["msgs_per_sec"]))
    if base["peers"]:
        L += ["", "## Peer clients (same broker, same settings)", "",
              "| client | point | msg/s | p50 us | p99 us | pulsarc / peer | status |",
              "|---|---|---:|---:|---:|---:|---|"]
        for p in base["peers"]:
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % tuple(fmt(p.get(k)) for k in (
                "client", "point", "msgs_per_sec", "p50_us", "p99_us", "pulsarc_ratio",
                "status")))
    if base.get("blocking_peers"):
        L += ["", "## Blocking send, default batching, beside the official clients "
              "(one stand-alone test broker)", "",
              "msgs/entry: the client's successful sends over the broker's entries for its topic "
              "(warm-up included). pulsarc / peer: msg/s ratio at the same thread count.", "",
              "| client | threads | msg/s | p50 us | p99 us | msgs/entry | pulsarc / peer | runs "
              "| status |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for p in base["blocking_peers"]:
            L.append("| %s |" % " | ".join(fmt(p.get(k)) for k in (
                "client", "threads", "msgs_per_sec", "p50_us", "p99_us", "mean_batch",
                "pulsarc_ratio", "runs", "status")))
    L += ["", "## Targets (measured, never asserted)", "", "| target | measured |", "|---|---|"]
    for k, v in ratios(rows, base):
        L.append("| %s | %s |" % (k, v))
    return "\n".join(L) + "\n"


def plots(out, rows, base):
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not found: no plots")
        return
    series = {}
    # The first row of each point: later rows with the same limits are
    # variants (blocking sends, text payloads, options) that must not
    # replace it (the blocking row had become the 1000-message point).
    for r in rows:
        if r.get("msgs_per_sec") and r["size"] == 100 and r["batching"] and r["threads"] == 1 \
                and r["producers"] == 1 and r["batch_max_bytes"] == 131072 and \
                r["batch_max_delay_ms"] == 10 and r["max_pending"] == 10000 and \
                not r["blocking"] and r["payload"] == "pattern":
            series.setdefault(r["compression"], {}).setdefault(r["batch_max_messages"], r)
    raw = {k[2]: v for k, v in base["raw"].items()
           if k[0] == 100 and k[1] and k[3] == 131072 and v.get("msgs_per_sec")}
    files = []
    for c in CODECS + (["raw writer"] if raw else []):
        pts = raw if c == "raw writer" else series.get(c, {})
        if not pts:
            continue
        fn = "plot-%s.dat" % c.replace(" ", "-")
        with open(os.path.join(out, fn), "w") as f:
            f.write("# batch_max_messages msgs_per_sec p50_us p99_us\n")
            for m in sorted(pts):
                r = pts[m]
                lat = r.get("latency_us") or {}
                f.write("%d %.1f %s %s\n" % (m, r["msgs_per_sec"],
                                             r.get("p50_us", lat.get("p50", "NaN")) or "NaN",
                                             r.get("p99_us", lat.get("p99", "NaN")) or "NaN"))
        files.append((c, fn))
    if not files:
        return
    missing = [c for c in CODECS if c not in series]
    note = ("not plotted (not supported yet): " + ", ".join(missing)) if missing else ""
    for term, ext in (("svg size 900,420 dynamic font 'sans,11'", "svg"),
                      ("pngcairo size 900,420 font 'sans,10'", "png")):
        # One colour per codec (by its place in CODECS), in both plots.
        lc = {c: i + 1 for i, c in enumerate(CODECS + ["raw writer"])}
        thr = ", ".join("'%s' using 1:2 with linespoints lc %d%s title '%s'" % (
            fn, lc[c], " dashtype 2" if c == "raw writer" else "", c) for c, fn in files)
        lat = ", ".join("'%s' using 1:3 with linespoints lc %d title '%s p50', '%s' using 1:4 "
                        "with linespoints lc %d dashtype 3 title '%s p99'"
                        % (fn, lc[c], c, fn, lc[c], c) for c, fn in files if c != "raw writer")
        script = """set terminal %s
set datafile missing 'NaN'
set logscale x
set grid
set key outside right
set xlabel 'batch max messages (100 B messages, 128 KiB / 10 ms limits, 1 thread)'
set output '%s'
set title 'pulsarc throughput by batch size and codec %s'
set ylabel 'msg/s'
set format y '%%.1s%%c'
plot %s
set output '%s'
set title 'pulsarc send latency by batch size and codec'
set ylabel 'latency, us (send -> callback)'
set logscale y
set format y '%%g'
plot %s
""" % (term, "throughput." + ext, ("\\n" + note) if note else "", thr, "latency." + ext, lat)
        p = subprocess.run([gp], input=script, text=True, cwd=out, capture_output=True)
        if p.returncode:
            log("gnuplot (%s) failed: %s" % (ext, p.stderr.strip()[-300:]))


if __name__ == "__main__":
    sys.exit(main())
