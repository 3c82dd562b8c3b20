#!/usr/bin/env python3
"""Chaos against a REAL Apache Pulsar broker (issue 4.7e), the real-broker
counterpart of tests/integration/test_chaos.cc, smaller.

Deduplication on; pulsarc-interop-publish sends --count (100,000) unique
messages "msg-{i}" (mode cb, fixed producer name, send timeout 0,
unbatched) while this script disturbs it:
  - topic unloads through the admin REST API every 100-400 ms (the broker
    closes the producer with pending messages; pulsarc re-registers and
    resends, and the broker's deduplication must drop what it already has);
  - once the broker holds --kill-at entries, a SIGKILL + restart of the
    broker (every connection dropped, unacknowledged entries possibly
    persisted).
Then the OFFICIAL consumer must read every message exactly once, in order.

Connection drops without a restart (`ss -K`) are not used: they need a
kernel with CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN; where `ss -K` works
(--ss-kill), it is added to the mix.

Usage: chaos_real.py --publisher BUILD/tests/interop/pulsarc-interop-publish
           [--root REPO] [--count 100000] [--kill-at 30000] [--seed N] [--ss-kill]
"""
import argparse
import os
import random
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restart_test import (Failure, RealBroker, check, consume_and_check,  # noqa: E402
                          finish_publisher, log, start_publisher, venv_python)


def ss_kill(port):
    """Kills pulsarc's client sockets to the broker port; True if the kernel did it."""
    p = subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)],
                       capture_output=True, text=True)
    return p.returncode == 0 and "RTNETLINK" not in p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--root", default=os.path.abspath(os.path.join(
        os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--kill-at", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=4711)
    ap.add_argument("--ss-kill", action="store_true", help="also drop connections with ss -K")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    py = venv_python(args.root)
    broker = RealBroker(args.root, args.keep)
    proc = None
    try:
        broker.start()
        broker.dedup(True)
        topic = f"chaos-{uuid.uuid4().hex[:8]}"
        proc, out, err = start_publisher(args, broker, topic, "pulsarc-chaos", args.count,
                                         ["--batching", "off"])
        unloads = failed_unloads = ss_drops = 0
        killed = False
        last_n = -1
        while proc.poll() is None:
            time.sleep(rng.uniform(0.1, 0.4))
            n = broker.stored_entries(topic)
            last_n = max(last_n, n)
            if not killed and n >= args.kill_at:
                log(f"broker holds {n} entries: SIGKILL + restart")
                broker.restart(kill=True)
                killed = True
                continue
            if args.ss_kill and rng.random() < 0.3 and ss_kill(int(broker.env["PULSAR_BROKER_PORT"])):
                ss_drops += 1
                continue
            try:
                broker.admin("PUT", f"/admin/v2/persistent/public/default/{topic}/unload",
                             timeout=10)
                unloads += 1
            except Exception:
                failed_unloads += 1  # not created yet, or busy reloading
        log(f"chaos: {unloads} topic unloads ({failed_unloads} refused), "
            f"{ss_drops} ss -K drops, SIGKILL restart: {'yes' if killed else 'no'}; "
            f"entries seen {last_n}")
        check(killed, f"publisher finished before the broker held {args.kill_at} entries")
        check(unloads > 0, "no topic unload happened while publishing")
        finish_publisher(proc, out, err, args.count, 300)
        proc = None
        consume_and_check(py, args.root, broker, topic, args.count)
        log("PASS: every message exactly once and in order through unloads and a SIGKILL")
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
