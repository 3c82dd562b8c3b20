#!/usr/bin/env python3
"""End-to-end smoke test of the real-broker harness with the OFFICIAL client.

Produces N messages (key, ordering key, properties, event time) to a topic,
consumes them with a Shared subscription and checks every field, then fetches
one stored entry through the admin REST endpoint
  GET /admin/v2/persistent/{tenant}/{ns}/{topic}/ledger/{ledgerId}/entry/{entryId}
and prints the X-Pulsar-* response headers (the stored entry's metadata).

Usage (python from tools/interop/setup-venv.sh):
  smoke.py --service-url pulsar://127.0.0.1:P --web-url http://127.0.0.1:W [-n 20]
  smoke.py --env DIR/env            (reads PULSAR_SERVICE_URL / PULSAR_WEB_URL)
Exit status 0 on success; failures print FAIL lines.
"""
import argparse
import sys
import time
import urllib.request
import uuid

import pulsar


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def fetch_entry_headers(web_url, topic_path, ledger_id, entry_id):
    """GET the raw stored entry; returns (status, {header: value}, body_len)."""
    url = f"{web_url}/admin/v2/persistent/{topic_path}/ledger/{ledger_id}/entry/{entry_id}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
        hdrs = {k: v for k, v in resp.getheaders() if k.lower().startswith("x-pulsar")}
        return resp.status, hdrs, len(body), url


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", help="DIR/env written by pulsar-broker.sh start")
    ap.add_argument("--service-url")
    ap.add_argument("--web-url")
    ap.add_argument("-n", "--count", type=int, default=20)
    ap.add_argument("--topic", default=None,
                    help="short topic name in public/default (default: random)")
    ap.add_argument("--batching", choices=["on", "off"], default="on")
    ap.add_argument("--compression", default="LZ4",
                    choices=["NONE", "LZ4", "ZLib", "ZSTD", "SNAPPY"])
    a = ap.parse_args()
    if a.env:
        env = read_env(a.env)
        a.service_url = a.service_url or env["PULSAR_SERVICE_URL"]
        a.web_url = a.web_url or env["PULSAR_WEB_URL"]
    if not a.service_url or not a.web_url:
        ap.error("need --env or --service-url and --web-url")
    a.web_url = a.web_url.rstrip("/")

    short = a.topic or f"smoke-{uuid.uuid4().hex[:8]}"
    topic = f"persistent://public/default/{short}"
    failures = []

    client = pulsar.Client(a.service_url, operation_timeout_seconds=30,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    try:
        # Subscribe first so nothing can be trimmed before we read.
        consumer = client.subscribe(topic, "smoke-sub",
                                    consumer_type=pulsar.ConsumerType.Shared,
                                    initial_position=pulsar.InitialPosition.Earliest)
        producer = client.create_producer(
            topic, producer_name=f"smoke-producer-{short}",
            batching_enabled=(a.batching == "on"),
            batching_max_messages=1000, batching_max_publish_delay_ms=50,
            compression_type=getattr(pulsar.CompressionType, a.compression))

        base_event = int(time.time() * 1000) - 60_000
        expected = {}
        pending = []
        for i in range(a.count):
            payload = f"smoke message {i} ".encode() * 4
            props = {"idx": str(i), "kind": "smoke", "unicode": "caf\u00e9"}
            exp = dict(payload=payload, key=f"key-{i % 3}",
                       ordering_key=f"ok-{i % 5}", props=props,
                       event=base_event + i)
            expected[i] = exp
            done = []

            def cb(res, msg_id, _d=done):
                _d.append((res, msg_id))
            producer.send_async(payload, cb, properties=props,
                                partition_key=exp["key"],
                                ordering_key=exp["ordering_key"],
                                event_timestamp=exp["event"])
            pending.append(done)
        producer.flush()
        msg_ids = []
        for i, d in enumerate(pending):
            deadline = time.time() + 30
            while not d and time.time() < deadline:
                time.sleep(0.01)
            if not d or d[0][0] != pulsar.Result.Ok:
                failures.append(f"send {i}: {d}")
            else:
                msg_ids.append(d[0][1])
        print(f"produced {len(msg_ids)}/{a.count} messages to {topic} "
              f"(batching={a.batching}, compression={a.compression})")

        seen = set()
        while len(seen) < a.count:
            try:
                m = consumer.receive(timeout_millis=15000)
            except pulsar.Timeout:
                failures.append(f"timeout: received {len(seen)}/{a.count}")
                break
            props = m.properties()
            i = int(props.get("idx", "-1"))
            exp = expected.get(i)
            if exp is None:
                failures.append(f"unexpected message {props}")
                consumer.acknowledge(m)
                continue
            checks = [
                ("payload", m.data(), exp["payload"]),
                ("key", m.partition_key(), exp["key"]),
                # the Python client returns the ordering key as str
                ("ordering_key", m.ordering_key(), exp["ordering_key"]),
                ("properties", props, exp["props"]),
                ("event_timestamp", m.event_timestamp(), exp["event"]),
                ("topic", m.topic_name(), topic),
            ]
            for name, got, want in checks:
                if got != want:
                    failures.append(f"msg {i} {name}: got {got!r} want {want!r}")
            if not m.publish_timestamp() > 0:
                failures.append(f"msg {i} publish_timestamp {m.publish_timestamp()}")
            if i in seen:
                failures.append(f"msg {i} duplicated")
            seen.add(i)
            consumer.acknowledge(m)
        print(f"consumed {len(seen)}/{a.count} messages (Shared), fields checked")
        producer.close()
        consumer.close()

        if msg_ids:
            mid = msg_ids[0]
            status, hdrs, blen, url = fetch_entry_headers(
                a.web_url, f"public/default/{short}", mid.ledger_id(), mid.entry_id())
            print(f"GET {url} -> {status}, body {blen} bytes")
            for k in sorted(hdrs):
                print(f"  {k}: {hdrs[k]}")
            if status != 200:
                failures.append(f"entry endpoint status {status}")
            if not any(k.lower() == "x-pulsar-publish-time" for k in hdrs):
                failures.append("entry endpoint: no X-Pulsar-publish-time header")
    finally:
        client.close()

    for f in failures:
        print("FAIL:", f)
    print("smoke:", "FAILED" if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
