#!/usr/bin/env python3
"""Consume messages with the OFFICIAL Pulsar client and print each one as a
JSON line, so a C/C++ test can compare what pulsarc produced.

Subscribes with initial position Earliest, reads until --count messages have
arrived or --timeout seconds have passed, acknowledges them, and prints one
JSON object per message on stdout:

  {"index": 0, "topic": "persistent://public/default/t",
   "message_id": "ledger:entry:partition:batch_index",
   "ledger_id": 12, "entry_id": 0, "partition": -1, "batch_index": 3,
   "payload": "...", "payload_encoding": "utf-8" | "base64", "size": 5,
   "key": "k" | null, "ordering_key": "ok" | null,
   "properties": {"a": "b"}, "event_timestamp": 0, "publish_timestamp": 1700000000000,
   "redelivery_count": 0, "producer_name": "p"}

Notes: the Python client reports a missing key/ordering key as "" (printed as
null here), an unset event time as 0, and batch_index -1 for non-batched
entries. A summary goes to stderr. Exit status: 0 if exactly --count messages
arrived (and, with --extra-wait-ms, no extra one showed up), 1 otherwise.

Usage:
  consume_check.py --env DIR/env --topic T --count N [--timeout 30]
  consume_check.py --service-url pulsar://127.0.0.1:P --topic T --count N
Options: --subscription NAME (default random), --sub-type
Exclusive|Shared|Failover|KeyShared, --payload-format auto|utf-8|base64,
--extra-wait-ms MS (after N messages, wait this long for unexpected extras),
--no-ack.
"""
import argparse
import base64
import json
import sys
import time
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


def full_topic(t):
    return t if "://" in t else f"persistent://public/default/{t}"


def encode_payload(data, fmt):
    if fmt in ("auto", "utf-8"):
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            if fmt == "utf-8":
                raise
    return base64.b64encode(data).decode("ascii"), "base64"


def to_record(i, m, fmt):
    mid = m.message_id()
    payload, enc = encode_payload(m.data(), fmt)
    return {
        "index": i,
        "topic": m.topic_name(),
        "message_id": f"{mid.ledger_id()}:{mid.entry_id()}:{mid.partition()}:{mid.batch_index()}",
        "ledger_id": mid.ledger_id(),
        "entry_id": mid.entry_id(),
        "partition": mid.partition(),
        "batch_index": mid.batch_index(),
        "payload": payload,
        "payload_encoding": enc,
        "size": len(m.data()),
        "key": m.partition_key() or None,
        "ordering_key": m.ordering_key() or None,
        "properties": dict(m.properties()),
        "event_timestamp": m.event_timestamp(),
        "publish_timestamp": m.publish_timestamp(),
        "redelivery_count": m.redelivery_count(),
        "producer_name": m.producer_name(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", help="DIR/env written by pulsar-broker.sh start")
    ap.add_argument("--service-url")
    ap.add_argument("--topic", required=True, help="full name or short name in public/default")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="total seconds (default 30)")
    ap.add_argument("--subscription", default=None)
    ap.add_argument("--sub-type", default="Exclusive",
                    choices=["Exclusive", "Shared", "Failover", "KeyShared"])
    ap.add_argument("--payload-format", default="auto", choices=["auto", "utf-8", "base64"])
    ap.add_argument("--extra-wait-ms", type=int, default=0)
    ap.add_argument("--no-ack", action="store_true")
    a = ap.parse_args()
    if a.env:
        a.service_url = a.service_url or read_env(a.env)["PULSAR_SERVICE_URL"]
    if not a.service_url:
        ap.error("need --env or --service-url")

    topic = full_topic(a.topic)
    sub = a.subscription or f"consume-check-{uuid.uuid4().hex[:8]}"
    client = pulsar.Client(a.service_url, operation_timeout_seconds=30,
                           # stdout carries the records: the client logs to stderr
                           logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    got = 0
    extra = 0
    try:
        consumer = client.subscribe(
            topic, sub,
            consumer_type=getattr(pulsar.ConsumerType, a.sub_type),
            initial_position=pulsar.InitialPosition.Earliest)
        deadline = time.monotonic() + a.timeout
        while got < a.count:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            try:
                m = consumer.receive(timeout_millis=min(left_ms, 1000))
            except pulsar.Timeout:
                continue
            print(json.dumps(to_record(got, m, a.payload_format), ensure_ascii=False), flush=True)
            got += 1
            if not a.no_ack:
                consumer.acknowledge(m)
        if got == a.count and a.extra_wait_ms > 0:
            end = time.monotonic() + a.extra_wait_ms / 1000.0
            while time.monotonic() < end:
                try:
                    m = consumer.receive(timeout_millis=max(1, int((end - time.monotonic()) * 1000)))
                except pulsar.Timeout:
                    break
                print(json.dumps(to_record(got + extra, m, a.payload_format), ensure_ascii=False),
                      flush=True)
                extra += 1
                if not a.no_ack:
                    consumer.acknowledge(m)
        consumer.close()
    finally:
        client.close()
    ok = got == a.count and extra == 0
    print(f"consume_check: {topic} sub={sub}: received {got}/{a.count}"
          + (f", {extra} unexpected extra" if extra else "")
          + (" OK" if ok else " FAILED"), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
