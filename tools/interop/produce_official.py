#!/usr/bin/env python3
"""Publish messages with the OFFICIAL Pulsar client (C++ core), for the
reverse comparison: pulsarc consumes/inspects what the official client wrote.

Prints one JSON line per acknowledged message on stdout:
  {"index": i, "message_id": "ledger:entry:partition:batch_index",
   "ledger_id": .., "entry_id": .., "partition": .., "batch_index": ..,
   "payload": "...", "payload_encoding": "utf-8"|"base64", "size": n,
   "key": .., "ordering_key": .., "properties": {..}, "event_timestamp": ..,
   "sequence_id": ..}
and a summary on stderr. Exit status 0 if every send succeeded.

Templates: --payload, --key, --ordering-key and --property values may contain
"{i}" (message index). --payload-size N sends N pseudo-random-free bytes
(repeating ASCII pattern that includes the index) instead of --payload.

Usage:
  produce_official.py --env DIR/env --topic T -n 10 [--batching on|off]
      [--compression NONE|LZ4|ZLib|ZSTD|SNAPPY] [--key 'k-{i}']
      [--ordering-key 'ok-{i}'] [--property a=b --property idx={i}]
      [--event-time MS|now] [--producer-name NAME] [--sequence-id-start S>=1]
      [--batch-max-messages N] [--batch-delay-ms MS] [--chunking]
      [--deliver-after-ms MS] [--payload 'msg-{i}' | --payload-size BYTES]
"""
import argparse
import base64
import json
import sys
import threading
import time
from datetime import timedelta

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


def full_topic(t):
    return t if "://" in t else f"persistent://public/default/{t}"


def fmt(template, i):
    return None if template is None else template.replace("{i}", str(i))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", help="DIR/env written by pulsar-broker.sh start")
    ap.add_argument("--service-url")
    ap.add_argument("--topic", required=True)
    ap.add_argument("-n", "--count", type=int, default=10)
    ap.add_argument("--payload", default="message-{i}")
    ap.add_argument("--payload-size", type=int, default=None)
    ap.add_argument("--batching", choices=["on", "off"], default="off")
    ap.add_argument("--batch-max-messages", type=int, default=1000)
    ap.add_argument("--batch-delay-ms", type=int, default=10)
    ap.add_argument("--compression", default="NONE",
                    choices=["NONE", "LZ4", "ZLib", "ZSTD", "SNAPPY"])
    ap.add_argument("--key", default=None)
    ap.add_argument("--ordering-key", default=None)
    ap.add_argument("--property", action="append", default=[], metavar="K=V")
    ap.add_argument("--event-time", default=None, help="ms since epoch, or 'now'")
    ap.add_argument("--producer-name", default=None)
    ap.add_argument("--sequence-id-start", type=int, default=None)
    ap.add_argument("--chunking", action="store_true", help="enable chunking (needs batching off)")
    ap.add_argument("--deliver-after-ms", type=int, default=None)
    ap.add_argument("--send-timeout-ms", type=int, default=30000)
    a = ap.parse_args()
    if a.env:
        a.service_url = a.service_url or read_env(a.env)["PULSAR_SERVICE_URL"]
    if not a.service_url:
        ap.error("need --env or --service-url")
    if a.sequence_id_start is not None and a.sequence_id_start < 1:
        # pulsar-client's Python wrapper does `if sequence_id: ...`, so an
        # explicit 0 is silently dropped and the C++ core assigns its own id.
        ap.error("--sequence-id-start must be >= 1 (the Python wrapper ignores sequence_id=0)")
    if a.chunking and a.batching == "on":
        ap.error("--chunking needs --batching off")
    props_t = []
    for p in a.property:
        if "=" not in p:
            ap.error(f"--property wants K=V, got {p!r}")
        props_t.append(tuple(p.split("=", 1)))
    event_time = None
    if a.event_time == "now":
        event_time = int(time.time() * 1000)
    elif a.event_time is not None:
        event_time = int(a.event_time)

    topic = full_topic(a.topic)
    client = pulsar.Client(a.service_url, operation_timeout_seconds=30,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    failures = 0
    try:
        kw = dict(batching_enabled=(a.batching == "on"),
                  batching_max_messages=a.batch_max_messages,
                  batching_max_publish_delay_ms=a.batch_delay_ms,
                  compression_type=getattr(pulsar.CompressionType, a.compression),
                  chunking_enabled=a.chunking,
                  send_timeout_millis=a.send_timeout_ms,
                  block_if_queue_full=True)
        if a.producer_name:
            kw["producer_name"] = a.producer_name
        if a.sequence_id_start is not None:
            kw["initial_sequence_id"] = a.sequence_id_start - 1
        producer = client.create_producer(topic, **kw)

        results = [None] * a.count
        records = []
        lock = threading.Lock()
        done = threading.Event()
        remaining = [a.count]

        def make_cb(i):
            def cb(res, msg_id):
                with lock:
                    results[i] = (res, msg_id)
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
            return cb

        for i in range(a.count):
            if a.payload_size is not None:
                unit = f"[{i}]".encode()
                data = (unit * (a.payload_size // len(unit) + 1))[:a.payload_size]
            else:
                data = fmt(a.payload, i).encode("utf-8")
            props = {k: fmt(v, i) for k, v in props_t}
            send_kw = dict(properties=props or None,
                           partition_key=fmt(a.key, i),
                           ordering_key=fmt(a.ordering_key, i),
                           event_timestamp=event_time)
            if a.sequence_id_start is not None:
                send_kw["sequence_id"] = a.sequence_id_start + i
            if a.deliver_after_ms is not None:
                send_kw["deliver_after"] = timedelta(milliseconds=a.deliver_after_ms)
            send_kw = {k: v for k, v in send_kw.items() if v is not None}
            producer.send_async(data, make_cb(i), **send_kw)
            try:
                payload, enc = data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                payload, enc = base64.b64encode(data).decode("ascii"), "base64"
            records.append({"index": i, "payload": payload, "payload_encoding": enc,
                            "size": len(data), "key": send_kw.get("partition_key"),
                            "ordering_key": send_kw.get("ordering_key"),
                            "properties": props, "event_timestamp": event_time or 0,
                            "sequence_id": send_kw.get("sequence_id")})
        producer.flush()
        if a.count and not done.wait(timeout=a.send_timeout_ms / 1000.0 + 30):
            print("produce_official: timed out waiting for send callbacks", file=sys.stderr)
        for i, rec in enumerate(records):
            r = results[i]
            if r is None or r[0] != pulsar.Result.Ok:
                failures += 1
                rec["error"] = str(r[0]) if r else "no callback"
            else:
                mid = r[1]
                rec.update({
                    "message_id": f"{mid.ledger_id()}:{mid.entry_id()}:{mid.partition()}:{mid.batch_index()}",
                    "ledger_id": mid.ledger_id(), "entry_id": mid.entry_id(),
                    "partition": mid.partition(), "batch_index": mid.batch_index()})
            print(json.dumps(rec, ensure_ascii=False), flush=True)
        producer.close()
    finally:
        client.close()
    print(f"produce_official: {topic}: {a.count - failures}/{a.count} sent "
          f"(batching={a.batching}, compression={a.compression}, chunking={a.chunking})"
          + (" OK" if failures == 0 else " FAILED"), file=sys.stderr)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
