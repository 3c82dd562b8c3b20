"""Peer clients for bench/run.py --full: the official Java `pulsar-perf
produce`, the Go client's perf tool and the official Python client, run
against ONE stand-alone test broker (tools/testbroker's program) with the
settings pulsarc-perf uses, pulsarc-perf measured against the same broker.

Obtained from the registries by name, cached outside the repository:
  Java    org.apache.pulsar:pulsar-testclient (bench/peers/java/pom.xml; jars in ~/.m2)
  Go      github.com/apache/pulsar-client-go/perf (go install -> ~/.cache/pulsarc/bench/go-bin)
  Python  pulsar-client (tools/interop/setup-venv.sh)
If a peer fails against the test broker, the reason is recorded and that peer
and pulsarc are measured again against a real Pulsar broker
(tools/real-broker/pulsar-broker.sh).
"""
import json
import os
import re
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "pulsarc", "bench")
GO_VERSION = "v0.16.0"
JAVA_CP = os.path.join(CACHE, "pulsar-perf.classpath")
JVM_FLAGS = ["-Djava.net.preferIPv4Stack=true", "-Dio.netty.tryReflectionSetAccessible=true",
             "--add-opens", "java.base/sun.net=ALL-UNNAMED",
             "--add-opens", "java.base/java.lang=ALL-UNNAMED",
             "--add-opens", "java.base/java.util.zip=ALL-UNNAMED",
             "--add-opens", "java.base/java.nio=ALL-UNNAMED",
             "--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED", "-Xmx1g"]

# The comparison points: name -> settings (pulsarc-perf vocabulary).
POINTS = [
    ("100B batched 1 thread", dict(size=100, threads=1)),
    ("100B batched 4 threads", dict(size=100, threads=4)),
    ("16KiB batched 1 thread", dict(size=16384, threads=1)),
    ("100B lz4 1 thread", dict(size=100, threads=1, compression="lz4")),
]
BASE = dict(bmm=1000, bmb=131072, delay=10, max_pending=10000, compression="none")


def fetch(log):
    """Resolves the three peers; returns {client: error or None}."""
    st = {}
    if not os.path.exists(JAVA_CP):
        os.makedirs(CACHE, exist_ok=True)
        settings = os.path.join(os.path.expanduser("~"), ".cache", "pulsarc", "real-broker",
                                "maven-settings.xml")
        cmd = ["mvn", "-B", "-q", "-f", os.path.join(ROOT, "bench/peers/java/pom.xml"),
               "-Dclasspath.file=" + JAVA_CP, "dependency:build-classpath"]
        if os.path.exists(settings):
            cmd[1:1] = ["-s", settings]
        log("resolving pulsar-testclient (Maven Central) ...")
        p = subprocess.run(cmd, capture_output=True, text=True)
        subprocess.run(["rm", "-rf", os.path.join(ROOT, "bench/peers/java/target")])
        st["java"] = None if p.returncode == 0 else "maven: " + p.stdout.strip()[-300:]
    else:
        st["java"] = None
    gobin = os.path.join(CACHE, "go-bin")
    if not os.access(os.path.join(gobin, "perf"), os.X_OK):
        log("go install github.com/apache/pulsar-client-go/perf@%s ..." % GO_VERSION)
        env = dict(os.environ, GOBIN=gobin)
        p = subprocess.run(["go", "install", "github.com/apache/pulsar-client-go/perf@" + GO_VERSION],
                           capture_output=True, text=True, env=env, cwd="/tmp")
        st["go"] = None if p.returncode == 0 else "go install: " + p.stderr.strip()[-300:]
    else:
        st["go"] = None
    p = subprocess.run([os.path.join(ROOT, "tools/interop/setup-venv.sh")], capture_output=True,
                       text=True)
    st["python"] = None if p.returncode == 0 else "setup-venv: " + p.stderr.strip()[-300:]
    st["python_bin"] = p.stdout.strip().splitlines()[-1] if p.returncode == 0 else None
    return st


def start_testbroker(bins):
    p = subprocess.Popen([bins["tb"], "--listen", "127.0.0.1:0", "--retain-bytes", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.search(r"ready (\S+)", line)
    if not m:
        p.kill()
        raise RuntimeError("test broker did not start: %r" % line)
    return p, m.group(1)


def run_java(cfg, url, dur, warm, topic):
    conf = os.path.join(CACHE, "client.conf")
    with open(conf, "w") as f:
        f.write("brokerServiceUrl=%s\n" % url)
    cp = open(JAVA_CP).read().strip()
    cmd = (["java"] + JVM_FLAGS + ["-cp", cp, "org.apache.pulsar.testclient.PulsarPerfTestTool",
                                   conf, "produce", "-u", url, "-r", "100000000",
                                   "-s", str(cfg["size"]), "-time", str(int(dur + warm)),
                                   "-o", str(cfg["max_pending"]), "-threads", str(cfg["threads"]),
                                   "-bm", str(cfg["bmm"]), "-bb", str(cfg["bmb"]),
                                   "-b", str(cfg["delay"])])
    if cfg["compression"] != "none":
        cmd += ["-z", cfg["compression"].upper()]
    cmd.append(topic)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 60)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        # Seen against the test broker: the Java client rejects its
        # PRODUCER_SUCCESS ("Field 'schema_version' is not set") and retries
        # producer creation forever.
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        why = re.search(r"Got exception ([^\n]+)", out)
        return dict(status="error: timed out%s" % (": " + why.group(1)[:200] if why else ""))
    m = re.search(r"Aggregated throughput stats[^\n]*?---\s*([\d,.]+)\s*msg/s", out)
    lat = re.search(r"Aggregated latency stats[^\n]*?med:\s*([\d.]+)[^\n]*?99pct:\s*([\d.]+)"
                    r"[^\n]*?99\.9pct:\s*([\d.]+)", out)
    if not m:
        tail = [l for l in out.strip().splitlines() if "ERROR" in l or "Exception" in l]
        return dict(status="error: " + (tail[0][:200] if tail else "no aggregated stats"))
    r = dict(status="ok", msgs_per_sec=float(m.group(1).replace(",", "")))
    if lat:
        r.update(p50_us=float(lat.group(1)) * 1000, p99_us=float(lat.group(2)) * 1000,
                 p999_us=float(lat.group(3)) * 1000)
    r["note"] = "Java figures include its own warm-up (no separate warm-up flag used)"
    return r


def run_go(cfg, url, dur, warm, topic):
    if cfg["threads"] != 1 or cfg["compression"] != "none":
        return dict(status="n/a (the Go perf tool has no threads/compression option)")
    cmd = [os.path.join(CACHE, "go-bin", "perf"), "produce", "-u", url, "-r", "0",
           "-s", str(cfg["size"]), "-q", str(cfg["max_pending"]),
           "--batching-num-messages", str(cfg["bmm"]),
           "--batching-max-size", str(cfg["bmb"] // 1024), "-b", str(cfg["delay"]),
           "--metrics", "-1", topic]
    # It prints one stats line per 10 s and never stops: keep the second line
    # (the first includes start-up), then SIGINT.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.time() + 40
    buf = ""
    while time.time() < deadline:
        ch = p.stdout.readline()
        if not ch:
            break
        buf += ch
        if "Publish rate" in ch:
            lines.append(ch)
            if len(lines) >= 2:
                break
    p.send_signal(signal.SIGINT)
    try:
        buf += p.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        buf += p.communicate()[0]
    text = buf.replace("\n", " ")
    ms = re.findall(r"Publish rate:\s*([\d.]+) msg/s.*?50%\s*([\d.]+)\s*-95%\s*([\d.]+)\s*-\s*99%"
                    r"\s*([\d.]+)\s*-\s*99\.9%\s*([\d.]+)", text)
    if not ms:
        return dict(status="error: " + (buf.strip().splitlines() or ["no output"])[-1][:200])
    m = ms[-1]
    return dict(status="ok", msgs_per_sec=float(m[0]), p50_us=float(m[1]) * 1000,
                p99_us=float(m[3]) * 1000, p999_us=float(m[4]) * 1000,
                note="10 s stats window of the Go tool (second window)")


def run_python(pybin, cfg, url, dur, warm, topic):
    cmd = [pybin, os.path.join(ROOT, "bench/peers/python/perf_produce.py"), "--service-url", url,
           "--topic", topic, "--size", str(cfg["size"]), "--threads", str(cfg["threads"]),
           "--duration", str(dur), "--warmup", str(warm), "--batch-max-messages", str(cfg["bmm"]),
           "--batch-max-bytes", str(cfg["bmb"]), "--batch-max-delay-ms", str(cfg["delay"]),
           "--max-pending", str(cfg["max_pending"]), "--compression", cfg["compression"]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 120)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode or not lines:
        return dict(status="error: " + (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:200])
    j = json.loads(lines[-1])
    j["status"] = "ok"
    return j


def run_all(bins, dur, warm, log):
    """Returns a list of dicts: client, point, msgs_per_sec, p50_us, p99_us,
    pulsarc_ratio, status, broker."""
    import run as runmod  # bench/run.py, for run_perf
    st = fetch(log)
    out = []
    tb, url = start_testbroker(bins)
    failed = []
    try:
        for name, over in POINTS:
            cfg = dict(BASE, **over)
            pcfg = dict(runmod.DEFAULTS, **dict(cfg, batching=True))
            m, pst = runmod.run_perf(bins, pcfg, url, dur, warm)
            pul = m["msgs_per_sec"] if m else None
            out.append(dict(client="pulsarc", point=name, status=pst, broker="test broker",
                            **(m or {})))
            for client in ("java", "go", "python"):
                topic = "peer-%s-%d-%d" % (client, len(out), os.getpid())
                if st.get(client):
                    r = dict(status="error: " + st[client])
                elif client == "java":
                    r = run_java(cfg, url, dur, warm, topic)
                elif client == "go":
                    r = run_go(cfg, url, dur, warm, topic)
                else:
                    r = run_python(st["python_bin"], cfg, url, dur, warm, topic)
                r.update(client=client, point=name, broker="test broker")
                if r.get("msgs_per_sec") and pul:
                    r["pulsarc_ratio"] = pul / r["msgs_per_sec"]
                if r["status"].startswith("error"):
                    failed.append((client, name, cfg))
                log("peer %-7s %-24s %s %s" % (client, name, r["status"],
                                               "%.0f msg/s" % r["msgs_per_sec"]
                                               if r.get("msgs_per_sec") else ""))
                out.append(r)
    finally:
        tb.send_signal(signal.SIGTERM)
        tb.wait(timeout=10)
    if failed:
        out += real_broker_rerun(bins, failed, dur, warm, log, st, runmod)
    return out


def real_broker_rerun(bins, failed, dur, warm, log, st, runmod):
    """Peers that failed against the test broker, and pulsarc, on a real broker."""
    script = os.path.join(ROOT, "tools/real-broker/pulsar-broker.sh")
    d = os.path.join(CACHE, "real-broker-run")
    log("%d peer runs failed on the test broker: measuring them on a real broker" % len(failed))
    p = subprocess.run([script, "start", d], capture_output=True, text=True)
    if p.returncode:
        return [dict(client=c, point=n, broker="real broker",
                     status="error: real broker did not start: " + p.stderr.strip()[-200:])
                for c, n, _ in failed]
    url = p.stdout.strip().splitlines()[-1]
    out = []
    try:
        done = {}
        for client, name, cfg in failed:
            if name not in done:
                pcfg = dict(runmod.DEFAULTS, **dict(cfg, batching=True))
                m, pst = runmod.run_perf(bins, pcfg, url, dur, warm)
                done[name] = m["msgs_per_sec"] if m else None
                out.append(dict(client="pulsarc", point=name, status=pst, broker="real broker",
                                **(m or {})))
            topic = "peer-real-%s-%d" % (client, len(out))
            if client == "java":
                r = run_java(cfg, url, dur, warm, topic)
            elif client == "go":
                r = run_go(cfg, url, dur, warm, topic)
            else:
                r = run_python(st["python_bin"], cfg, url, dur, warm, topic)
            r.update(client=client, point=name, broker="real broker")
            if r.get("msgs_per_sec") and done[name]:
                r["pulsarc_ratio"] = done[name] / r["msgs_per_sec"]
            out.append(r)
    finally:
        subprocess.run([script, "stop", d], capture_output=True)
    return out
