#!/usr/bin/env python3
"""Real broker killed mid-publish (issue 5.5): pulsarc loses nothing and
duplicates nothing across a SIGKILL of a REAL Apache Pulsar broker.

Starts one broker (tools/real-broker/pulsar-broker.sh; it sets
journalWriteData=true, so acknowledged entries survive SIGKILL), turns
deduplication on for public/default, and publishes --count (200,000) unique
messages "msg-{i}" with pulsarc-interop-publish (mode cb, fixed producer
name, send timeout 0 so nothing may time out, unbatched so the run is long
enough to kill into). Once the broker holds --kill-at entries it is killed
with `restart DIR --kill` and started again on the same data and ports; the
publisher reconnects on its own and resends what was pending. Then the
OFFICIAL client (tools/interop/consume_check.py) must read every message
exactly once and in order.

Prints the steps with times and "PASS"/"FAIL: reason"; exit status 0 on PASS.

Usage (any python3; the official client's venv is found with
tools/interop/setup-venv.sh):
  restart_test.py --publisher BUILD/tests/interop/pulsarc-interop-publish
      [--root REPO] [--count 200000] [--kill-at 40000] [--keep]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class RealBroker:
    """One real broker in a temp dir, driven through pulsar-broker.sh."""

    def __init__(self, root, keep=False):
        self.sh = os.path.join(root, "tools/real-broker/pulsar-broker.sh")
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="pulsarc-restart-")
        self.env = {}

    def _run(self, *args, timeout=180):
        p = subprocess.run([self.sh, *args], capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise Failure(f"pulsar-broker.sh {' '.join(args)} failed: {p.stderr.strip()[-800:]}")
        return p

    def _read_env(self):
        with open(os.path.join(self.dir, "env")) as f:
            self.env = dict(line.strip().split("=", 1) for line in f if "=" in line)

    def start(self):
        t = time.monotonic()
        self._run("start", self.dir)
        self._read_env()
        log(f"broker up in {time.monotonic() - t:.1f}s: {self.env['PULSAR_SERVICE_URL']}")

    def restart(self, kill):
        t = time.monotonic()
        self._run("restart", self.dir, *(["--kill"] if kill else []))
        self._read_env()
        log(f"broker {'SIGKILLed' if kill else 'stopped'} and back in "
            f"{time.monotonic() - t:.1f}s")

    def dedup(self, on):
        self._run("dedup", self.dir, "on" if on else "off")

    @property
    def service_url(self):
        return self.env["PULSAR_SERVICE_URL"]

    @property
    def web_url(self):
        return self.env["PULSAR_WEB_URL"]

    def admin(self, method, path, timeout=5):
        req = urllib.request.Request(self.web_url + path, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return json.loads(body) if body else None

    def stored_entries(self, topic):
        """Entries in the topic's managed ledger (survives restarts); -1 if unknown."""
        try:
            st = self.admin("GET", f"/admin/v2/persistent/public/default/{topic}/internalStats")
            return int(st.get("numberOfEntries", -1))
        except Exception:  # not created yet, or the broker is down
            return -1

    def stop(self):
        subprocess.run([self.sh, "stop", self.dir], capture_output=True, timeout=60)
        if self.keep:
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def venv_python(root):
    p = subprocess.run([os.path.join(root, "tools/interop/setup-venv.sh")], capture_output=True,
                       text=True, timeout=900)
    if p.returncode != 0:
        raise Failure(f"setup-venv.sh failed: {p.stderr.strip()[-800:]}")
    return p.stdout.strip().splitlines()[-1]


def start_publisher(args, broker, topic, name, count, extra=()):
    cmd = [args.publisher, "--service-url", broker.service_url, "--topic", topic, "-n", str(count),
           "--mode", "cb", "--send-timeout-ms", "0", "--name", name,
           "--payload-pattern", "msg-{i}", *extra]
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    log("publisher: " + " ".join(cmd[1:]))
    return subprocess.Popen(cmd, stdout=out, stderr=err, text=True), out, err


def finish_publisher(proc, out, err, count, timeout):
    """Waits for the publisher; returns its rows. Raises on any failed send."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Failure(f"publisher still running after {timeout}s")
    out.seek(0)
    err.seek(0)
    rows = [json.loads(line) for line in out if line.lstrip().startswith("{")]
    errtext = err.read().strip()
    bad = [r for r in rows if r.get("error") is not None]
    check(rc == 0 and not bad and len(rows) == count,
          f"publisher exit {rc}, {len(rows)} rows, {len(bad)} failed "
          f"(first: {bad[:3]}); stderr: {errtext[-600:]}")
    dups = sum(1 for r in rows if r["ledger_id"] == -1)
    log(f"publisher: {count}/{count} acknowledged, {dups} as duplicates (-1:-1); "
        f"{errtext.splitlines()[-1] if errtext else ''}")
    return rows


def consume_and_check(py, root, broker, topic, count, timeout=240):
    cmd = [py, os.path.join(root, "tools/interop/consume_check.py"), "--service-url",
           broker.service_url, "--topic", topic, "--count", str(count), "--timeout",
           str(timeout), "--extra-wait-ms", "3000"]
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)
    # Records only: a client log line on stdout is not a message.
    got = [json.loads(line)["payload"] for line in p.stdout.splitlines()
           if line.lstrip().startswith("{")]
    log(f"official consumer: {len(got)} messages in {time.monotonic() - t:.1f}s "
        f"({p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''})")
    want = [f"msg-{i}" for i in range(count)]
    if got != want:
        seen = {}
        for i, g in enumerate(got):
            seen.setdefault(g, []).append(i)
        twice = [g for g, idx in seen.items() if len(idx) > 1]
        missing = [w for w in want if w not in seen]
        first_bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        raise Failure(f"official consumer read {len(got)} messages, wanted {count} in order: "
                      f"{len(missing)} missing (first {missing[:5]}), {len(twice)} twice "
                      f"(first {twice[:5]}), first mismatch at index {first_bad}")
    check(p.returncode == 0, f"consume_check exit {p.returncode}: {p.stderr.strip()[-600:]}")


def wait_entries(broker, topic, at_least, proc, deadline_s):
    """Polls the stored entry count until it reaches at_least; returns it."""
    end = time.monotonic() + deadline_s
    n = -1
    while time.monotonic() < end:
        check(proc.poll() is None,
              f"publisher finished (exit {proc.returncode}) before the broker held "
              f"{at_least} entries ({n}): nothing left to disturb")
        n = broker.stored_entries(topic)
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise Failure(f"broker holds {n} entries after {deadline_s}s, waited for {at_least}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--root", default=os.path.abspath(os.path.join(
        os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--kill-at", type=int, default=40000)
    ap.add_argument("--keep", action="store_true", help="keep the broker dir")
    args = ap.parse_args()

    py = venv_python(args.root)
    broker = RealBroker(args.root, args.keep)
    proc = None
    try:
        broker.start()
        broker.dedup(True)
        topic = f"restart-{uuid.uuid4().hex[:8]}"
        proc, out, err = start_publisher(args, broker, topic, "pulsarc-restart", args.count,
                                         ["--batching", "off"])
        n = wait_entries(broker, topic, args.kill_at, proc, 120)
        log(f"broker holds {n} entries, publisher running: SIGKILL + restart")
        broker.restart(kill=True)
        finish_publisher(proc, out, err, args.count, 300)
        proc = None
        consume_and_check(py, args.root, broker, topic, args.count)
        log("PASS: every message exactly once and in order across a SIGKILL")
        return 0
    except Failure as e:
        log(f"FAIL: {e}")
        return 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
