#!/usr/bin/env python3
"""Cluster smoke test (issue 14 item 1): start the real cluster (ZooKeeper, a
bookie, two brokers, a proxy), publish with pulsarc to one topic through
broker1, broker2, the proxy and a two-host service URL, read everything back
with the official Python client (exactly once, in publish order), stop the
cluster. Every wait is bounded.

Usage: run_cluster_test.sh cluster_smoke.py --publisher PATH [--state-dir DIR]
       [--count N] [--keep]
"""
import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, log, publish, read_all  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--state-dir", default="cluster-smoke")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    a = ap.parse_args()

    t_all = time.monotonic()
    cl = Cluster(a.root, a.state_dir)
    try:
        cl.start()
        cl.run("status")
        smoke(cl, a.publisher, a.count)
        log(f"cluster start {cl.start_seconds:.1f}s, total {time.monotonic() - t_all:.1f}s")
        return 0
    finally:
        if not a.keep:
            cl.stop()


def smoke(cl, publisher, count):
    """Publishes count messages to one topic through broker1, broker2, the
    proxy and the two-host URL, checks that only the proxy run went through
    the proxy, and reads everything back in publish order. Raises on any
    difference. Used alone (main) and at the start of cluster_faults.py, so
    that CI starts one cluster for both."""
    topic = f"persistent://public/default/smoke-{uuid.uuid4().hex[:8]}"
    expected = []
    owners = set()
    for member in ("broker1", "broker2", "proxy", "multi"):
        url = cl.url(member)
        before = cl.proxy_metric("pulsar_proxy_new_connections_total")
        t0 = time.monotonic()
        publish(publisher, url, topic, count, f"{member}-{{i}}")
        after = cl.proxy_metric("pulsar_proxy_new_connections_total")
        owners.add(cl.owner(topic))
        log(f"{count} receipts via {member} ({url}) in {time.monotonic() - t0:.1f}s; "
            f"proxy connections +{after - before:.0f}")
        # the proxy run must have gone through the proxy, the others not
        if member == "proxy":
            assert after > before, "publishing via the proxy opened no proxy connection"
        else:
            assert after == before, f"publishing via {member} went through the proxy"
        expected += [f"{member}-{i}" for i in range(count)]
    assert len(owners) == 1, f"the topic changed owner without a fault: {owners}"
    owner = owners.pop()
    other = "broker2" if owner == "broker1" else "broker1"
    log(f"topic owned by {owner}; reading back through {other}")
    t0 = time.monotonic()
    got = read_all(cl.url(other), topic, len(expected), timeout_s=120)
    log(f"read {len(got)}/{len(expected)} in {time.monotonic() - t0:.1f}s")
    dups = len(got) - len(set(got))
    missing = len(set(expected) - set(got))
    assert got == expected, (f"read back differs: {len(got)} read, {len(expected)} "
                             f"expected, {dups} duplicates, {missing} missing")
    log(f"smoke PASS: {len(expected)} sent, {len(got)} received, 0 duplicates, 0 lost")


if __name__ == "__main__":
    sys.exit(main())
