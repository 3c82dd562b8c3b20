#!/usr/bin/env python3
"""The official client's twin of pulsarc-cluster-publish, for
bench/cluster_recovery.py: the official Python client (pulsar-client from
PyPI, which wraps the official C++ client) publishing under the same fault
script as pulsarc, so the two clients' recovery can be compared.

One client, one producer (send timeout 0, block_if_queue_full, batching on
with pulsarc's defaults: 1000 messages / 128 KiB / 10 ms, max pending 1000),
T application threads; thread t sends N unique messages "t<t>-<i>" in order
with send_async, paced to --rate (all threads together) like the C tool.

Same interface as pulsarc-cluster-publish, so cluster_faults.Publisher drives
it unchanged: "progress RECEIPTS ERRORS" on stdout every 100 ms, "done OK
TOTAL" at the end, and --out gets one line per receipt, "THREAD INDEX
REALTIME_NS LEDGER:ENTRY:PARTITION:BATCH RESULT", where a successful receipt
is written as PULSARC_OK (the driver's word for success), any other as the
client's Result name. --log gets the official client's own log (INFO by
default). With --key-by-thread 1 thread t's messages carry the partition key
"t<t>", as with pulsarc's tool, so on a partitioned topic each thread's
messages share one partition. Exit status 0 only if every message got a
successful receipt.
Run with the venv from tools/interop/setup-venv.sh.
"""
import argparse
import sys
import threading
import time

import pulsar

ap = argparse.ArgumentParser()
ap.add_argument("--service-url", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--threads", type=int, default=4)
ap.add_argument("--count-per-thread", type=int, default=25000)
ap.add_argument("--rate", type=float, default=0, help="messages/s, all threads (0: unpaced)")
ap.add_argument("--name")
ap.add_argument("--send-timeout-ms", type=int, default=0)
ap.add_argument("--out", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--log-level", default="info")
ap.add_argument("--key-by-thread", type=int, default=0)
a, _unknown = ap.parse_known_args()  # pulsarc-only flags (--conf) are ignored

level = {"debug": pulsar.LoggerLevel.Debug, "info": pulsar.LoggerLevel.Info,
         "warn": pulsar.LoggerLevel.Warn, "error": pulsar.LoggerLevel.Error}[a.log_level]
client = pulsar.Client(a.service_url, operation_timeout_seconds=30,
                       logger=pulsar.FileLogger(level, a.log))
producer = client.create_producer(
    a.topic, producer_name=a.name, send_timeout_millis=a.send_timeout_ms,
    batching_enabled=True, batching_max_messages=1000,
    batching_max_allowed_size_in_bytes=131072, batching_max_publish_delay_ms=10,
    max_pending_messages=1000, block_if_queue_full=True)

n = a.count_per_thread
# receipts[t][i] = (realtime ns, "L:E:P:B", result name); written by the
# client's callback thread, read after every receipt arrived
receipts = [[None] * n for _ in range(a.threads)]
count = [0, 0]  # receipts, errors (the callback thread's; read without a lock for progress)
all_done = threading.Event()
total = n * a.threads


def on_receipt(t, i):
    def cb(res, msg_id):
        ns = time.time_ns()
        mid = (f"{msg_id.ledger_id()}:{msg_id.entry_id()}:{msg_id.partition()}:"
               f"{msg_id.batch_index()}" if res == pulsar.Result.Ok else "-1:-1:-1:-1")
        receipts[t][i] = (ns, mid, "PULSARC_OK" if res == pulsar.Result.Ok else str(res))
        count[0] += 1
        if res != pulsar.Result.Ok:
            count[1] += 1
        if count[0] == total:
            all_done.set()
    return cb


def sender(t):
    per_thread = a.rate / a.threads
    key = f"t{t}" if a.key_by_thread else None
    t0 = time.monotonic()
    for i in range(n):
        if per_thread > 0:
            delay = t0 + i / per_thread - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.send_async(f"t{t}-{i}".encode(), on_receipt(t, i), partition_key=key)


threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(a.threads)]
for th in threads:
    th.start()
while not all_done.wait(0.1):
    print(f"progress {count[0]} {count[1]}", flush=True)
print(f"progress {count[0]} {count[1]}", flush=True)
for th in threads:
    th.join()
with open(a.out, "w") as f:
    for t in range(a.threads):
        for i, (ns, mid, res) in enumerate(receipts[t]):
            f.write(f"{t} {i} {ns} {mid} {res}\n")
ok = total - count[1]
print(f"done {ok} {total}", flush=True)
producer.close()
client.close()
sys.exit(0 if ok == total else 1)
