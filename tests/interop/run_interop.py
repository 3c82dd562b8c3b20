#!/usr/bin/env python3
"""pulsarc interop suite: pulsarc against a REAL Apache Pulsar broker and the
OFFICIAL Python client (pulsar-client, C++ core).

Starts ONE broker (tools/real-broker/pulsar-broker.sh) for the whole suite,
runs every case on a fresh topic, stops the broker in a finally block, prints
one "PASS name" / "FAIL name: reason" line per case and ends with
"N passed, M failed". Exit status 0 only if every case passed.

Cases:
  a_unbatched        20 unbatched messages with key, ordering key, properties,
                     event time: the official consumer sees each once, in
                     order, with the same fields; publish time set; the ids
                     pulsarc reported equal the consumer's.
  b_batched          200 messages, batch_max_messages=50, delay 100 ms: all in
                     order; stored entries (admin endpoint) hold <= 50 each,
                     summing to 200, with increasing sequence ids.
  c_mixed_modes      sync / async(future) / callback sends interleaved.
  d_delayed          deliver-after 3000 ms via a Shared subscription: not
                     received before ~3 s, then received; entries unbatched
                     although the producer batches.
  e_vs_official      same options through the official producer and through
                     pulsarc: stored entry headers (partition key, ordering
                     key, properties, event time, compression, uncompressed
                     size, batch count, every other X-Pulsar-* header) and the
                     decoded per-message SingleMessageMetadata must agree.

Run with the venv python from tools/interop/setup-venv.sh:
  run_interop.py --publisher BUILD/tests/interop/pulsarc-interop-publish
      [--root REPO] [--only a_unbatched,...] [--keep]
      [--broker real|testbroker] [--testbroker PATH]

--broker testbroker runs the same cases against pulsarc's own test broker
(`pulsarc-testbroker --listen 127.0.0.1:0 --http-port 0`, default path
BUILD/tools/testbroker/pulsarc-testbroker next to the publisher's build):
the official consumer reads from it, the official producer publishes into it,
and its --http-port endpoint serves the admin entry / internalStats facts the
cases read. Any difference from the real broker that a case reveals is a
test-broker bug.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pulsar

from case_runner import check, run_cases, start_real_broker  # noqa: E402

DELAY_TOLERANCE_MS = 1000




class Suite:
    def __init__(self, args):
        self.a = args
        self.root = args.root
        self.broker_sh = os.path.join(self.root, "tools/real-broker/pulsar-broker.sh")
        self.consume = os.path.join(self.root, "tools/interop/consume_check.py")
        self.produce = os.path.join(self.root, "tools/interop/produce_official.py")
        self.dir = None
        self.env = {}
        self.run_id = uuid.uuid4().hex[:6]

    # ------------------------------------------------------------ broker
    def start_broker(self):
        if self.a.broker == "testbroker":
            return self.start_testbroker()
        self.dir = tempfile.mkdtemp(prefix="pulsarc-interop-")
        env = dict(os.environ)
        # The script already defaults to strict deliver-at; say so explicitly
        # so case d does not depend on that default.
        env["PULSAR_CONF_EXTRA"] = "isDelayedDeliveryDeliverAtTimeStrict=true"
        self.env, took = start_real_broker(self.broker_sh, self.dir, env)
        self.service_url = self.env["PULSAR_SERVICE_URL"]
        self.web_url = self.env["PULSAR_WEB_URL"].rstrip("/")
        print(f"broker {self.env.get('PULSAR_VERSION')} up in {took:.1f}s "
              f"({self.service_url}, dir {self.dir})", flush=True)

    def start_testbroker(self):
        self.dir = tempfile.mkdtemp(prefix="pulsarc-interop-tb-")
        t0 = time.monotonic()
        self.tb_err = open(os.path.join(self.dir, "testbroker.log"), "w+")
        self.tb = subprocess.Popen([self.a.testbroker, "--listen", "127.0.0.1:0",
                                    "--http-port", "0"], stdout=subprocess.PIPE,
                                   stderr=self.tb_err, text=True)
        line = self.tb.stdout.readline().strip()  # the HTTP line is written before it
        if not line.startswith("ready "):
            raise RuntimeError(f"pulsarc-testbroker did not start: {line!r}")
        self.service_url = line.split()[1]
        self.tb_err.seek(0)
        http = [ln.split()[1] for ln in self.tb_err.read().splitlines() if ln.startswith("http ")]
        if not http:
            raise RuntimeError("pulsarc-testbroker printed no 'http' line")
        self.web_url = http[0].rstrip("/")
        print(f"test broker up in {time.monotonic() - t0:.1f}s ({self.service_url}, "
              f"{self.web_url}, dir {self.dir})", flush=True)

    def stop_broker(self, keep):
        if not self.dir:
            return
        if self.a.broker == "testbroker":
            if getattr(self, "tb", None) is None:
                return
            self.tb.send_signal(signal.SIGTERM)
            try:
                self.tb.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.tb.kill()
                self.tb.wait()
            self.tb_err.close()
            with open(os.path.join(self.dir, "testbroker.log")) as f:
                tail = [ln for ln in f.read().splitlines() if "stopped" in ln]
            if tail:
                print(tail[-1], flush=True)
        else:
            subprocess.run([self.broker_sh, "stop", self.dir], check=False,
                           stdout=subprocess.DEVNULL)
        if keep:
            print(f"broker dir kept: {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    def topic(self, case):
        return f"interop-{case}-{self.run_id}"

    def run_json(self, cmd, what, timeout=120):
        """Runs cmd, returns (exit code, [json objects from stdout], stderr)."""
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rows = []
        for line in p.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
        if p.returncode != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-8:])
            print(f"  {what} exited {p.returncode}; stderr tail:\n    "
                  + tail.replace("\n", "\n    "), flush=True)
        return p.returncode, rows, p.stderr

    def publish(self, topic, n, *flags):
        cmd = [self.a.publisher, "--service-url", self.service_url, "--topic", topic,
               "-n", str(n), *flags]
        rc, rows, _ = self.run_json(cmd, "pulsarc-interop-publish")
        check(rc == 0, f"pulsarc publisher exit {rc}; errors: "
              + str([(r['index'], r['error']) for r in rows if r.get('error')][:5]))
        check(len(rows) == n, f"publisher printed {len(rows)} lines, wanted {n}")
        return rows

    def official_publish(self, topic, n, *flags):
        cmd = [sys.executable, self.produce, "--service-url", self.service_url,
               "--topic", topic, "-n", str(n), *flags]
        rc, rows, _ = self.run_json(cmd, "produce_official.py")
        check(rc == 0 and len(rows) == n, f"official producer rc={rc}, {len(rows)}/{n} lines")
        return rows

    def official_consume(self, topic, n, *flags):
        cmd = [sys.executable, self.consume, "--service-url", self.service_url,
               "--topic", topic, "--count", str(n), "--timeout", "30",
               "--extra-wait-ms", "500", *flags]
        rc, rows, _ = self.run_json(cmd, "consume_check.py")
        check(rc == 0, f"official consumer received {len(rows)}/{n} (rc {rc})")
        return rows

    def entry(self, topic, ledger, entry):
        """Stored entry via the admin endpoint: ({x-pulsar-* lowercased: value}, body)."""
        url = (f"{self.web_url}/admin/v2/persistent/public/default/{topic}"
               f"/ledger/{ledger}/entry/{entry}")
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()
                    if k.lower().startswith("x-pulsar")}
        return hdrs, body

    def internal_stats(self, topic):
        url = f"{self.web_url}/admin/v2/persistent/public/default/{topic}/internalStats"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())


def entries_of(rows):
    """Distinct (ledger, entry) in first-seen order from rows with ids."""
    seen = []
    for r in rows:
        k = (r["ledger_id"], r["entry_id"])
        if k not in seen:
            seen.append(k)
    return seen


def compare_consumed(pub, got, keys):
    """pub: publisher rows; got: consumer rows. keys: expected fields per index."""
    check(len(got) == len(pub), f"consumer saw {len(got)} messages, published {len(pub)}")
    payloads = [g["payload"] for g in got]
    check(len(set(payloads)) == len(payloads), "duplicate payloads at the consumer")
    for i, (p, g) in enumerate(zip(pub, got)):
        check(g["payload"] == p["payload"],
              f"order/payload at {i}: consumer {g['payload']!r}, published {p['payload']!r}")
        check(g["message_id"] == p["message_id"],
              f"message {i}: pulsarc reported id {p['message_id']}, consumer saw "
              f"{g['message_id']}")
        check(g["publish_timestamp"] > 0, f"message {i}: publish_timestamp {g['publish_timestamp']}")
        for name, want in keys(i).items():
            check(g[name] == want, f"message {i} {name}: consumer {g[name]!r}, want {want!r}")


# ---------------------------------------------------------------- protobuf
def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def decode_pb(b):
    """Generic protobuf decode: {field number: [values]} (bytes for len-delimited)."""
    out, i = {}, 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = bytes(b[i:i + n]), i + n
        elif wt == 1:
            v, i = bytes(b[i:i + 8]), i + 8
        elif wt == 5:
            v, i = bytes(b[i:i + 4]), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(f, []).append(v)
    return out


SMM_NAMES = {1: "properties", 2: "partition_key", 3: "payload_size", 4: "compacted_out",
             5: "event_time", 6: "partition_key_b64_encoded", 7: "ordering_key",
             8: "sequence_id", 9: "null_value", 10: "null_partition_key"}


def split_batch(body, count):
    """Batch payload -> [(readable SingleMessageMetadata dict, payload bytes)]."""
    msgs, i = [], 0
    for _ in range(count):
        n = int.from_bytes(body[i:i + 4], "big")
        raw = decode_pb(body[i + 4:i + 4 + n])
        i += 4 + n
        md = {}
        for f, vals in raw.items():
            name = SMM_NAMES.get(f, f"field{f}")
            if f == 1:
                md[name] = [(decode_pb(kv).get(1, [b""])[0].decode(),
                             decode_pb(kv).get(2, [b""])[0].decode()) for kv in vals]
            else:
                md[name] = vals if len(vals) > 1 else vals[0]
        size = md.get("payload_size", 0)
        msgs.append((md, body[i:i + size]))
        i += size
    if i != len(body):
        raise ValueError(f"batch body: {len(body) - i} trailing bytes")
    return msgs


# ---------------------------------------------------------------- cases
EVENT_TIME = 1700000000123


def case_a_unbatched(s):
    t = s.topic("a")
    n = 20
    pub = s.publish(t, n, "--batching", "off", "--key-pattern", "k-{i}",
                    "--ordering-key-pattern", "ok-{i}", "--property", "idx={i}",
                    "--property", "kind=interop", "--event-time", str(EVENT_TIME),
                    "--payload-pattern", "a-msg-{i}", "--mode", "cb")
    check(all(r["batch_index"] == -1 for r in pub), "unbatched send reported a batch index")
    got = s.official_consume(t, n)
    compare_consumed(pub, got, lambda i: {
        "key": f"k-{i}", "ordering_key": f"ok-{i}",
        "properties": {"idx": str(i), "kind": "interop"}, "event_timestamp": EVENT_TIME})
    check(len(entries_of(got)) == n, "unbatched messages share entries")


def case_b_batched(s):
    t = s.topic("b")
    n = 200
    pub = s.publish(t, n, "--batching", "on", "--batch-max-messages", "50",
                    "--batch-max-delay-ms", "100", "--key-pattern", "bk-{i}",
                    "--payload-pattern", "b-msg-{i}", "--mode", "cb")
    got = s.official_consume(t, n)
    compare_consumed(pub, got, lambda i: {"key": f"bk-{i}"})
    total, last_seq, sizes = 0, -1, []
    for ledger, entry in entries_of(got):
        h, body = s.entry(t, ledger, entry)
        nb = int(h.get("x-pulsar-num-batch-message", "1"))
        seq = int(h["x-pulsar-sequence-id"])
        check(nb <= 50, f"entry {ledger}:{entry} holds {nb} messages (> 50)")
        check(seq > last_seq, f"entry {ledger}:{entry} sequence id {seq} after {last_seq}")
        msgs = split_batch(body, nb) if "x-pulsar-num-batch-message" in h else None
        if msgs:
            seqs = [m[0].get("sequence_id", 0) for m in msgs]
            check(seqs == list(range(seq, seq + nb)),
                  f"entry {ledger}:{entry}: single-message sequence ids {seqs[:3]}... "
                  f"not consecutive from {seq}")
        last_seq = seq
        total += nb
        sizes.append(nb)
    check(total == n, f"num-batch-message sums to {total}, wanted {n}")
    stats = s.internal_stats(t)
    check(stats.get("numberOfEntries") == len(sizes),
          f"internalStats numberOfEntries {stats.get('numberOfEntries')} != {len(sizes)} "
          "entries the consumer saw")
    print(f"  b_batched: {len(sizes)} entries, sizes {sizes}", flush=True)


def case_c_mixed_modes(s):
    for batching in ("on", "off"):
        t = s.topic(f"c{batching}")
        n = 30
        pub = s.publish(t, n, "--batching", batching, "--batch-max-delay-ms", "20",
                        "--key-pattern", "ck-{i}", "--property", "idx={i}",
                        "--payload-pattern", "c-msg-{i}", "--mode", "mixed")
        modes = {r["mode"] for r in pub}
        check(modes == {"sync", "async", "cb"}, f"publisher used modes {modes}")
        got = s.official_consume(t, n)
        compare_consumed(pub, got, lambda i: {"key": f"ck-{i}", "properties": {"idx": str(i)}})


def case_d_delayed(s):
    t = s.topic("d")
    n = 3
    delay = 3000
    client = pulsar.Client(s.service_url, operation_timeout_seconds=30,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    try:
        consumer = client.subscribe(f"persistent://public/default/{t}", "delayed-sub",
                                    consumer_type=pulsar.ConsumerType.Shared,
                                    initial_position=pulsar.InitialPosition.Earliest)
        t_send = time.time() * 1000
        # Batching ON on purpose: delayed messages must still go out alone.
        pub = s.publish(t, n, "--batching", "on", "--batch-max-delay-ms", "50",
                        "--deliver-after-ms", str(delay), "--payload-pattern", "d-msg-{i}",
                        "--mode", "cb")
        got, early = [], []
        deadline = t_send + delay + 15000
        while len(got) < n and time.time() * 1000 < deadline:
            try:
                m = consumer.receive(timeout_millis=200)
            except pulsar.Timeout:
                continue
            at = time.time() * 1000
            (early if at < t_send + delay - DELAY_TOLERANCE_MS else got).append(
                (m.data().decode(), at - t_send))
            consumer.acknowledge(m)
        consumer.close()
    finally:
        client.close()
    check(not early, f"received before deliver-after (ms after send): {early}")
    check(len(got) == n, f"received {len(got)}/{n} delayed messages")
    check(sorted(p for p, _ in got) == sorted(r["payload"] for r in pub),
          f"payloads {got} vs {[r['payload'] for r in pub]}")
    print("  d_delayed: received at " + ", ".join(f"{ms:.0f} ms" for _, ms in got)
          + f" after send (deliver-after {delay} ms)", flush=True)
    check(len(entries_of(pub)) == n, f"{n} delayed messages in {len(entries_of(pub))} entries")
    for r in pub:
        check(r["batch_index"] == -1, f"{r['payload']} acknowledged with batch index "
              f"{r['batch_index']}")
        h, _ = s.entry(t, r["ledger_id"], r["entry_id"])
        check(int(h.get("x-pulsar-num-batch-message", "1")) <= 1,
              f"entry {r['message_id']} is a batch: {h.get('x-pulsar-num-batch-message')}")
        check("x-pulsar-deliver-at-time" in h, f"entry {r['message_id']} has no deliver-at-time")


# Headers that differ between any two producers by nature.
NATURAL = {"x-pulsar-message-id", "x-pulsar-publish-time", "x-pulsar-producer-name"}
# Known, accepted differences from the official C++ client: pulsarc sets
# highest_sequence_id on batches as the official Java client does.
ACCEPTED_EXTRA = {"x-pulsar-highest-sequence-id"}
# The fields the issue names explicitly (checked first, reported by name).
NAMED = ["x-pulsar-partition-key", "x-pulsar-base64-ordering-key", "x-pulsar-property",
         "x-pulsar-event-time", "x-pulsar-compression", "x-pulsar-uncompressed-size",
         "x-pulsar-num-batch-message"]


def compare_entries(label, off_topic, off_entries, pc_topic, pc_entries, s, diffs, notes):
    if len(off_entries) != len(pc_entries):
        diffs.append(f"{label}: official wrote {len(off_entries)} entries, pulsarc "
                     f"{len(pc_entries)}")
    for k, (oe, pe) in enumerate(zip(off_entries, pc_entries)):
        oh, ob = s.entry(off_topic, *oe)
        ph, pb = s.entry(pc_topic, *pe)
        where = f"{label} entry #{k}"
        for name in NAMED:
            ov, pv = oh.get(name), ph.get(name)
            if name == "x-pulsar-property":
                ov, pv = json.loads(ov or "{}"), json.loads(pv or "{}")
            if name == "x-pulsar-uncompressed-size" and not oh.get("x-pulsar-compression"):
                ov, pv = int(ov or 0), int(pv or 0)  # absent == 0 when uncompressed
            if ov != pv:
                diffs.append(f"{where}: {name}: official {ov!r}, pulsarc {pv!r}")
        for name in sorted(set(oh) | set(ph)):
            if name in NATURAL or name in NAMED:
                continue
            ov, pv = oh.get(name), ph.get(name)
            if ov == pv:
                continue
            if name in ACCEPTED_EXTRA and ov is None:
                notes.add(f"{label}: pulsarc sets {name} (official Java client does too; "
                          "C++ does not)")
                continue
            diffs.append(f"{where}: header {name}: official {ov!r}, pulsarc {pv!r}")
        nb = int(oh.get("x-pulsar-num-batch-message", "0"))
        if nb and nb == int(ph.get("x-pulsar-num-batch-message", "0")):
            om, pm = split_batch(ob, nb), split_batch(pb, nb)
            for j, ((omd, opl), (pmd, ppl)) in enumerate(zip(om, pm)):
                if omd != pmd:
                    keys = sorted(set(omd) | set(pmd), key=str)
                    d = {x: (omd.get(x), pmd.get(x)) for x in keys if omd.get(x) != pmd.get(x)}
                    diffs.append(f"{where} message {j}: SingleMessageMetadata differs "
                                 f"(field: (official, pulsarc)): {d}")
                if opl != ppl:
                    diffs.append(f"{where} message {j}: payload {opl!r} vs {ppl!r}")
        elif not nb and ob != pb:
            diffs.append(f"{where}: payload {ob!r} vs {pb!r}")


def case_e_vs_official(s):
    n = 30
    variants = [("batched", ["on"]), ("unbatched", ["off"])]
    diffs, notes = [], set()
    for label, (batching,) in variants:
        common_official = ["--batching", batching, "--batch-max-messages", "10",
                           "--batch-delay-ms", "1000", "--key", "ek-{i}",
                           "--ordering-key", "eok-{i}", "--property", "idx={i}",
                           "--property", "kind=cmp", "--event-time", str(EVENT_TIME),
                           "--payload", "e-msg-{i}"]
        common_pulsarc = ["--batching", batching, "--batch-max-messages", "10",
                          "--batch-max-delay-ms", "1000", "--key-pattern", "ek-{i}",
                          "--ordering-key-pattern", "eok-{i}", "--property", "idx={i}",
                          "--property", "kind=cmp", "--event-time", str(EVENT_TIME),
                          "--payload-pattern", "e-msg-{i}", "--mode", "cb"]
        ot, pt = s.topic(f"e{label}-official"), s.topic(f"e{label}-pulsarc")
        orows = s.official_publish(ot, n, *common_official)
        prows = s.publish(pt, n, *common_pulsarc)
        # Per-message view through the official consumer, for both topics.
        ogot, pgot = s.official_consume(ot, n), s.official_consume(pt, n)
        for i, (o, p) in enumerate(zip(ogot, pgot)):
            for f in ("payload", "key", "ordering_key", "properties", "event_timestamp",
                      "batch_index"):
                if o[f] != p[f]:
                    diffs.append(f"{label} message {i} (consumer view) {f}: official {o[f]!r}, "
                                 f"pulsarc {p[f]!r}")
        compare_entries(label, ot, entries_of(orows), pt, entries_of(prows), s, diffs, notes)
    for note in sorted(notes):
        print(f"  NOTE {note}", flush=True)
    # The same difference on every entry is one finding: print it once.
    grouped = {}
    for d in diffs:
        where, _, what = d.partition(": ") if " entry #" in d else ("", "", d)
        grouped.setdefault(what, []).append(where)
    for k, (what, wheres) in enumerate(grouped.items()):
        if k == 40:
            print(f"  DIFF ... and {len(grouped) - 40} more", flush=True)
            break
        at = f" [{wheres[0]}" + (f" .. {wheres[-1]}, {len(wheres)} entries]" if len(wheres) > 1
                                 else "]") if wheres[0] else ""
        print(f"  DIFF {what}{at}", flush=True)
    check(not diffs, f"{len(grouped)} distinct difference(s) between pulsarc and the official "
          "client (DIFF lines above)")


CASES = [("a_unbatched", case_a_unbatched), ("b_batched", case_b_batched),
         ("c_mixed_modes", case_c_mixed_modes), ("d_delayed", case_d_delayed),
         ("e_vs_official", case_e_vs_official)]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", required=True, help="path to pulsarc-interop-publish")
    ap.add_argument("--root", default=os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", "..")), help="repository root")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--keep", action="store_true", help="keep the broker dir (logs, data)")
    ap.add_argument("--broker", choices=["real", "testbroker"], default="real",
                    help="run the cases against the real broker (default) or pulsarc-testbroker")
    ap.add_argument("--testbroker", default=None,
                    help="path to pulsarc-testbroker (default: BUILD/tools/testbroker/...)")
    a = ap.parse_args()
    a.publisher = os.path.abspath(a.publisher)
    if a.broker == "testbroker":
        if not a.testbroker:
            build = os.path.dirname(os.path.dirname(os.path.dirname(a.publisher)))
            a.testbroker = os.path.join(build, "tools", "testbroker", "pulsarc-testbroker")
        a.testbroker = os.path.abspath(a.testbroker)
        if not os.access(a.testbroker, os.X_OK):
            ap.error(f"test broker {a.testbroker} is not executable")
    if not os.access(a.publisher, os.X_OK):
        ap.error(f"publisher {a.publisher} is not executable")
    only = {c for c in a.only.split(",") if c}
    unknown = only - {name for name, _ in CASES}
    if unknown:
        ap.error(f"unknown case(s): {sorted(unknown)}")

    return run_cases(Suite(a), CASES, only, a.keep)


if __name__ == "__main__":
    sys.exit(main())
