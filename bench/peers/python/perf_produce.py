#!/usr/bin/env python3
"""Peer baseline for bench/run.py --full: the official Python client
(pulsar-client from PyPI, which wraps the official C++ client) publishing
as fast as it is allowed, with the same settings as pulsarc-perf.

Each application thread loops on send_async with a callback that records
the latency (send call -> callback); with --blocking it loops on the
blocking producer.send() instead (the C++ core's blocking send, under the
GIL) and the latency is the whole call. Prints one JSON line at the end.
Run with the venv from tools/interop/setup-venv.sh.
"""
import argparse
import json
import os
import threading
import time

import pulsar

ap = argparse.ArgumentParser()
ap.add_argument("--service-url", required=True)
ap.add_argument("--topic", default="py-perf-%d" % os.getpid())
ap.add_argument("--size", type=int, default=100)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--duration", type=float, default=10)
ap.add_argument("--warmup", type=float, default=1)
ap.add_argument("--batch-max-messages", type=int, default=1000)
ap.add_argument("--batch-max-bytes", type=int, default=131072)
ap.add_argument("--batch-max-delay-ms", type=int, default=10)
ap.add_argument("--no-batching", action="store_true")
ap.add_argument("--max-pending", type=int, default=10000)
ap.add_argument("--compression", default="none")
ap.add_argument("--blocking", action="store_true")
a = ap.parse_args()

codec = {"none": pulsar.CompressionType.NONE, "lz4": pulsar.CompressionType.LZ4,
         "zlib": pulsar.CompressionType.ZLib, "zstd": pulsar.CompressionType.ZSTD,
         "snappy": pulsar.CompressionType.SNAPPY}[a.compression]
client = pulsar.Client(a.service_url, io_threads=1)
producer = client.create_producer(
    a.topic, batching_enabled=not a.no_batching,
    batching_max_messages=a.batch_max_messages,
    batching_max_allowed_size_in_bytes=a.batch_max_bytes,
    batching_max_publish_delay_ms=a.batch_max_delay_ms,
    max_pending_messages=a.max_pending, block_if_queue_full=True, compression_type=codec)

t0 = time.monotonic()
mstart = t0 + a.warmup
end = mstart + a.duration
lock = threading.Lock()
lats = []
errors = [0]
ok_total = [0]  # successful sends, warm-up included (mean batch = this / entries)
payload = (b"abcdefghijklmnopqrstuvwxyz" * (a.size // 26 + 1))[:a.size]


def sender():
    while True:
        t = time.monotonic()
        if t >= end:
            return

        def done(res, _msg_id, t=t):
            now = time.monotonic()
            if res != pulsar.Result.Ok:
                errors[0] += 1
            elif t >= mstart:
                with lock:
                    lats.append(now - t)
        producer.send_async(payload, done)


def blocking_sender():
    mine, ok, errs = [], 0, 0
    while True:
        t = time.monotonic()
        if t >= end:
            break
        try:
            producer.send(payload)
        except Exception:  # pulsar.PulsarException and its subclasses
            errs += 1
            if errs > 1000:
                break
            continue
        ok += 1
        if t >= mstart:
            mine.append(time.monotonic() - t)
    with lock:
        lats.extend(mine)
        ok_total[0] += ok
        errors[0] += errs


threads = [threading.Thread(target=blocking_sender if a.blocking else sender)
           for _ in range(a.threads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
t_join = time.monotonic()  # blocking: every counted message was acknowledged by now
producer.flush()
secs = (t_join if a.blocking else time.monotonic()) - mstart
producer.close()
client.close()
lats.sort()


def pct(p):
    return lats[min(len(lats) - 1, int(len(lats) * p / 100))] * 1e6 if lats else None


print(json.dumps(dict(client="python", messages=len(lats), seconds=secs,
                      msgs_per_sec=len(lats) / secs, p50_us=pct(50), p99_us=pct(99),
                      p999_us=pct(99.9), errors=errors[0], blocking=a.blocking,
                      sent_total=ok_total[0] if a.blocking else None)))
