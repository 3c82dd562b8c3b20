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

run_blocking() (both modes): BLOCKING sends with default batching at 1, 4
and 16 threads from pulsarc-perf --blocking, from the official C++ client
(its C API, pulsar_producer_send, in bench/peers/cpp/blocking_send.c, built
here against the libpulsar shared object the pulsar-client wheel carries:
the wheel has no headers, and the program declares the few C functions it
calls) and from the official Python client's producer.send(), against one
stand-alone test broker whose HTTP internalStats give each topic's entries.

run_real_broker() (bench/run.py --real-broker only): ASYNC sends, batching
on, at 100 B and 16 KiB from pulsarc-perf, the Java pulsar-perf, the C++
client's C API (bench/peers/cpp/async_send.c, built the same way) and the
Python client, against ONE real Pulsar standalone; msg/s and client CPU per
message measured from outside, the same way for every client.
"""
import glob
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

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


def start_testbroker(bins, http=False):
    """(process, service URL) or, with http, (process, service URL, HTTP URL)."""
    err = open(os.path.join(CACHE, "testbroker.stderr"), "w+") if http else subprocess.DEVNULL
    p = subprocess.Popen([bins["tb"], "--listen", "127.0.0.1:0", "--retain-bytes", "0"] +
                         (["--http-port", "0"] if http else []),
                         stdout=subprocess.PIPE, stderr=err, text=True)
    line = p.stdout.readline()
    m = re.search(r"ready (\S+)", line)
    if not m:
        p.kill()
        raise RuntimeError("test broker did not start: %r" % line)
    if not http:
        return p, m.group(1)
    err.seek(0)  # the HTTP line is written before the ready line
    h = re.search(r"http (\S+)", err.read())
    err.close()
    return p, m.group(1), h.group(1) if h else None


def topic_entries(http_url, topic):
    """Entries the test broker stored for a short topic name, None if unknown."""
    if not http_url:
        return None
    try:
        with urllib.request.urlopen("%s/admin/v2/persistent/public/default/%s/internalStats"
                                    % (http_url, topic), timeout=10) as f:
            return json.load(f).get("entriesAddedCounter")
    except (OSError, ValueError):
        return None


def build_c_peer(pybin, log, source, exe_name):
    """Compiles bench/peers/cpp/<source> (the official C++ client's C API,
    declared in pulsar_c_api.h) against the wheel's libpulsar; returns
    (program path, None) or (None, why)."""
    if not pybin:
        return None, "no venv"
    site = subprocess.run([pybin, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    libs = sorted(glob.glob(os.path.join(site, "pulsar_client.libs", "libpulsar*.so*")))
    if not libs:
        return None, "no libpulsar shared object in %s/pulsar_client.libs" % site
    src = os.path.join(ROOT, "bench/peers/cpp", source)
    api = os.path.join(ROOT, "bench/peers/cpp/pulsar_c_api.h")
    exe = os.path.join(CACHE, exe_name)
    newest = max(os.path.getmtime(src), os.path.getmtime(api))
    if not os.path.exists(exe) or os.path.getmtime(exe) < newest:
        os.makedirs(CACHE, exist_ok=True)
        log("building %s against %s" % (source, libs[0]))
        p = subprocess.run(["cc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-I",
                            os.path.join(ROOT, "tools/perf"), "-o", exe, src, libs[0],
                            "-Wl,-rpath," + os.path.dirname(libs[0]), "-lpthread"],
                           capture_output=True, text=True)
        if p.returncode:
            return None, "cc: " + p.stderr.strip()[-300:]
    return exe, None


def build_cpp_peer(pybin, log):
    """The blocking-send peer (bench/peers/cpp/blocking_send.c)."""
    return build_c_peer(pybin, log, "blocking_send.c", "cpp-blocking-send")


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


BLOCKING_THREADS = (1, 4, 16)


def _median_run(fn, runs):
    """Runs fn() runs times; the run with the median msg/s (so its p50, p99 and
    batch size stay one run's figures), with runs = how many succeeded."""
    got, last = [], None
    for _ in range(runs):
        r = fn()
        last = r
        if r.get("msgs_per_sec"):
            got.append(r)
    if not got:
        return last
    got.sort(key=lambda r: r["msgs_per_sec"])
    r = dict(got[(len(got) - 1) // 2])
    r["runs"] = len(got)
    return r


def run_blocking(bins, dur, warm, log, runs=1):
    """Blocking send, default batching, 1/4/16 threads: pulsarc, the official
    C++ client and the official Python client on one stand-alone test broker.
    Returns dicts: client, threads, msgs_per_sec, p50_us, p99_us, mean_batch,
    entries, pulsarc_ratio (pulsarc msg/s / this client's), runs, status."""
    import run as runmod  # bench/run.py, for run_perf
    p = subprocess.run([os.path.join(ROOT, "tools/interop/setup-venv.sh")], capture_output=True,
                       text=True)
    pybin = p.stdout.strip().splitlines()[-1] if p.returncode == 0 else None
    py_err = None if pybin else "setup-venv: " + p.stderr.strip()[-300:]
    cpp, cpp_err = build_cpp_peer(pybin, log)
    tb, url, http = start_testbroker(bins, http=True)
    out, seq = [], [0]

    def topic(client, n):
        seq[0] += 1
        return "blocking-%s-%d-%d-%d" % (client, n, seq[0], os.getpid())

    def with_batch(r, t):
        entries = topic_entries(http, t)
        if entries and r.get("sent_total"):
            r.update(entries=entries, mean_batch=r["sent_total"] / entries)
        return r

    def one_pulsarc(n):
        t = topic("pulsarc", n)
        cfg = dict(runmod.DEFAULTS, blocking=True, threads=n, topic=t)
        m, st = runmod.run_perf(bins, cfg, url, dur, warm)
        return with_batch(dict(m or {}, status=st), t)

    def one_peer(client, n):
        t = topic(client, n)
        common = ["--service-url", url, "--topic", t, "--threads", str(n), "--size", "100",
                  "--duration", str(dur), "--warmup", str(warm)]
        cmd = ([cpp] + common if client == "cpp" else
               [pybin, os.path.join(ROOT, "bench/peers/python/perf_produce.py"), "--blocking"] +
               common)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 60)
        except subprocess.TimeoutExpired:
            return dict(status="error: timed out")
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if p.returncode or not lines:
            tail = p.stderr.strip().splitlines() or ["exit %d" % p.returncode]
            return dict(status="error: " + tail[-1][:200])
        r = json.loads(lines[-1])
        r["status"] = "ok" if not r.get("errors") else "ok (%d errors)" % r["errors"]
        return with_batch(r, t)

    try:
        for n in BLOCKING_THREADS:
            mine = _median_run(lambda: one_pulsarc(n), runs)
            mine.update(client="pulsarc", threads=n, broker="test broker (stand-alone)")
            out.append(mine)
            for client, err in (("cpp", cpp_err), ("python", py_err)):
                r = (dict(status="error: " + err) if err else
                     _median_run(lambda: one_peer(client, n), runs))
                r.update(client=client, threads=n, broker="test broker (stand-alone)")
                if r.get("msgs_per_sec") and mine.get("msgs_per_sec"):
                    r["pulsarc_ratio"] = mine["msgs_per_sec"] / r["msgs_per_sec"]
                out.append(r)
            for r in out[-3:]:
                log("blocking %-7s %2d thread%s: %s %s" % (
                    r["client"], n, "s" if n > 1 else "", r["status"],
                    "%.0f msg/s p50 %.0f us, %s msgs/entry" % (
                        r["msgs_per_sec"], r.get("p50_us") or 0,
                        "%.2f" % r["mean_batch"] if r.get("mean_batch") else "?")
                    if r.get("msgs_per_sec") else ""))
    finally:
        tb.send_signal(signal.SIGTERM)
        tb.wait(timeout=10)
    return out


# ------------------------------------------------------------ real broker group
# bench/run.py --real-broker (issue #13 item 6): async sends with batching on
# at the highest rate each client reaches, against ONE real Pulsar standalone
# (tools/real-broker/pulsar-broker.sh). Every client is measured the same way,
# from outside: after a warm-up (which also excludes the JVM's JIT warm-up),
# the broker's msgInCounter for the client's topic and the client process's
# user+sys CPU (/proc/<pid>/stat, all its threads) are read at the start and
# at the end of the measured window. msg/s = messages the broker took in per
# second; CPU per message = client CPU over those messages.

REAL_CLIENTS = ("pulsarc", "java", "cpp", "python")
REAL_SIZES = (100, 16384)


def build_cpp_async_peer(pybin, log):
    """The async-send peer (bench/peers/cpp/async_send.c)."""
    return build_c_peer(pybin, log, "async_send.c", "cpp-async-send")


def proc_cpu_s(pid):
    """user+sys seconds of a live process (all threads), None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def msg_in_counter(web_url, topic):
    try:
        with urllib.request.urlopen("%s/admin/v2/persistent/public/default/%s/stats"
                                    % (web_url, topic), timeout=10) as f:
            return json.load(f).get("msgInCounter")
    except (OSError, ValueError):
        return None


def real_cmd(client, bins, tools, url, size, topic, secs):
    """The command publishing size-byte messages to topic for about secs s."""
    b = dict(bmm=BASE["bmm"], bmb=BASE["bmb"], delay=BASE["delay"], mp=BASE["max_pending"])
    if client == "pulsarc":
        return [bins["perf"], "--quiet", "--json", "--service-url", url, "--topic", topic,
                "--size", str(size), "--duration", str(secs), "--warmup", "0",
                "--batch-max-messages", str(b["bmm"]), "--batch-max-bytes", str(b["bmb"]),
                "--batch-max-delay-ms", str(b["delay"]), "--max-pending", str(b["mp"])]
    if client == "java":
        conf = os.path.join(CACHE, "client-real.conf")
        with open(conf, "w") as f:
            f.write("brokerServiceUrl=%s\n" % url)
        return (["java"] + JVM_FLAGS +
                ["-cp", open(JAVA_CP).read().strip(),
                 "org.apache.pulsar.testclient.PulsarPerfTestTool", conf, "produce", "-u", url,
                 "-r", "100000000", "-s", str(size), "-time", str(int(secs)), "-threads", "1",
                 "-o", str(b["mp"]), "-bm", str(b["bmm"]), "-bb", str(b["bmb"]),
                 "-b", str(b["delay"]), topic])
    if client == "cpp":
        return [tools["cpp"], "--service-url", url, "--topic", topic, "--size", str(size),
                "--duration", str(secs), "--batch-max-messages", str(b["bmm"]),
                "--batch-max-bytes", str(b["bmb"]), "--batch-max-delay-ms", str(b["delay"]),
                "--max-pending", str(b["mp"])]
    return [tools["python"], os.path.join(ROOT, "bench/peers/python/perf_produce.py"),
            "--service-url", url, "--topic", topic, "--size", str(size), "--threads", "1",
            "--duration", str(secs), "--warmup", "0", "--batch-max-messages", str(b["bmm"]),
            "--batch-max-bytes", str(b["bmb"]), "--batch-max-delay-ms", str(b["delay"]),
            "--max-pending", str(b["mp"])]


def real_one(cmd, env, topic, dur, warm):
    """One measured run: dict with msgs_per_sec, client_ns_per_msg, ... or status error."""
    # A file, not a pipe: a chatty client (the JVM logs) must never block on it.
    errf = open(os.path.join(CACHE, "real-broker-client.stderr"), "w+")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, text=True)
    web, bpid = env["PULSAR_WEB_URL"], int(env["PULSAR_PID"])
    try:
        deadline = time.time() + 90  # JVM start and topic creation on a loaded box
        while not msg_in_counter(web, topic):
            if p.poll() is not None or time.time() > deadline:
                errf.seek(0)
                err = [l for l in errf.read().splitlines() if l.strip()]
                return dict(status="error: no message reached the broker%s" % (
                    ": " + err[-1][:200] if err else ""))
            time.sleep(0.2)
        time.sleep(warm)
        t0, c0, cpu0, b0 = time.monotonic(), msg_in_counter(web, topic), proc_cpu_s(p.pid), \
            proc_cpu_s(bpid)
        time.sleep(dur)
        t1, c1, cpu1, b1 = time.monotonic(), msg_in_counter(web, topic), proc_cpu_s(p.pid), \
            proc_cpu_s(bpid)
        if None in (c0, c1, cpu0, cpu1) or c1 <= c0:
            return dict(status="error: client ended or stalled in the window (exit %s)" % p.poll())
        n = c1 - c0
        r = dict(status="ok", messages=n, seconds=round(t1 - t0, 3),
                 msgs_per_sec=n / (t1 - t0), mb_per_sec=None,
                 client_cpu_s=round(cpu1 - cpu0, 3), client_ns_per_msg=(cpu1 - cpu0) / n * 1e9,
                 client_cores=(cpu1 - cpu0) / (t1 - t0))
        if b0 is not None and b1 is not None:
            r.update(broker_ns_per_msg=(b1 - b0) / n * 1e9, broker_cores=(b1 - b0) / (t1 - t0))
        return r
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        errf.close()


def run_real_broker(bins, dur, warm, runs, log):
    """The --real-broker group: (rows, info). rows: one per client and size,
    medians of runs (msg/s and CPU per message each the median of its own)."""
    import statistics
    info = dict(clients={})
    tools = {}
    py = subprocess.run([os.path.join(ROOT, "tools/interop/setup-venv.sh")], capture_output=True,
                        text=True)
    tools["python"] = py.stdout.strip().splitlines()[-1] if py.returncode == 0 else None
    why = {"python": None if tools["python"] else "setup-venv: " + py.stderr.strip()[-300:]}
    tools["cpp"], why["cpp"] = build_cpp_async_peer(tools["python"], log)
    if not os.path.exists(JAVA_CP):
        why["java"] = fetch(log).get("java")  # also resolves Go and the venv; cached after
    why["java"] = why.get("java") or (None if os.path.exists(JAVA_CP) else "no classpath")
    why["pulsarc"] = None
    for c in REAL_CLIENTS:
        info["clients"][c] = why[c] or "ok"
    script = os.path.join(ROOT, "tools/real-broker/pulsar-broker.sh")
    d = os.path.join(CACHE, "real-broker-bench")
    log("starting a real Pulsar standalone in %s" % d)
    # The script's 30 s readiness bound is too short beside other JVMs on 2 cores,
    # and its 512 MiB of direct memory ran out (OutOfDirectMemoryError, the
    # broker shut down) under 16 KiB messages with 10000 pending.
    p = subprocess.run([script, "start", d], capture_output=True, text=True,
                       env=dict(os.environ, PULSAR_START_TIMEOUT="150",
                                PULSAR_HEAP="-Xms256m -Xmx1g -XX:MaxDirectMemorySize=2g"))
    if p.returncode:
        info["broker"] = "error: did not start: " + p.stderr.strip()[-300:]
        return [], info
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v
    info["broker"] = ("Pulsar %s standalone (tools/real-broker/pulsar-broker.sh, heap 1 GiB, "
                      "direct memory 2 GiB), %s" % (env.get("PULSAR_VERSION"),
                                                    env.get("PULSAR_SERVICE_URL")))
    got = {(c, s): [] for c in REAL_CLIENTS for s in REAL_SIZES}
    try:
        # Rounds interleave the clients, so drift in the machine's load
        # spreads over all of them instead of favouring one.
        for rnd in range(runs):
            for size in REAL_SIZES:
                for c in REAL_CLIENTS:
                    if why[c]:
                        continue
                    if proc_cpu_s(int(env["PULSAR_PID"])) is None:
                        info["broker"] += "; error: the broker died (see %s/logs)" % d
                        raise RuntimeError("the broker died")
                    topic = "real-%s-%d-r%d-%d" % (c, size, rnd, os.getpid())
                    cmd = real_cmd(c, bins, tools, env["PULSAR_SERVICE_URL"], size, topic,
                                   warm + dur + 30)
                    r = real_one(cmd, env, topic, dur, warm)
                    r["load1"] = round(os.getloadavg()[0], 2)
                    got[(c, size)].append(r)
                    log("real broker run %d/%d %-7s %5d B: %s %s" % (
                        rnd + 1, runs, c, size, r["status"],
                        "%.0f msg/s, client %.0f ns/msg, broker %.0f ns/msg" % (
                            r["msgs_per_sec"], r["client_ns_per_msg"],
                            r.get("broker_ns_per_msg") or 0) if r.get("msgs_per_sec") else ""))
    except RuntimeError as e:
        log("real-broker group stopped: %s" % e)
    finally:
        subprocess.run([script, "stop", d], capture_output=True)
    rows = []
    for size in REAL_SIZES:
        mine = None
        for c in REAL_CLIENTS:
            rs = got[(c, size)]
            ok = [r for r in rs if r.get("msgs_per_sec")]
            row = dict(client=c, size=size, runs=len(ok), runs_tried=len(rs),
                       status=("ok" if ok and len(ok) == len(rs) else
                               "error: " + why[c] if why[c] else
                               "ok (%d of %d runs)" % (len(ok), len(rs)) if ok else
                               (rs[-1]["status"] if rs else "not run")),
                       per_run=rs)
            for k in ("msgs_per_sec", "client_ns_per_msg", "client_cores", "broker_ns_per_msg",
                      "broker_cores"):
                vals = [r[k] for r in ok if r.get(k) is not None]
                row[k] = statistics.median(vals) if vals else None
            if row["msgs_per_sec"]:
                row["mb_per_sec"] = row["msgs_per_sec"] * size / 1e6
            if c == "pulsarc":
                mine = row
            elif mine and mine.get("client_ns_per_msg") and row.get("client_ns_per_msg"):
                row["cpu_per_msg_vs_pulsarc"] = row["client_ns_per_msg"] / mine["client_ns_per_msg"]
                row["msgs_per_sec_vs_pulsarc"] = row["msgs_per_sec"] / mine["msgs_per_sec"]
            rows.append(row)
    return rows, info
