#!/usr/bin/env python3
"""pulsarc feature interop: compression, chunking, schemas and partition
routing against a REAL Apache Pulsar broker, read back by the OFFICIAL
clients (Python pulsar-client for consuming; the Java client from the
broker's own classpath for the routing comparison, since the Python client
cannot choose a hashing scheme).

Starts ONE broker (tools/real-broker/pulsar-broker.sh) with maxMessageSize
= 1 MiB (so chunking cases stay small), runs every case on fresh topics,
stops the broker in a finally block, prints "PASS name" / "FAIL name: why"
per case and "N passed, M failed". Exit status 0 only if all passed.

Cases:
  codecs      lz4, zlib, zstd, snappy; batched and unbatched: the official
              consumer reads every payload; every stored entry's admin
              headers name the codec and an uncompressed size equal to the
              (uncompressed) body the admin endpoint serves.
  chunking    messages of 1.5x and 3x the broker's max size, uncompressed
              and with lz4, published with chunking: the official consumer
              reassembles them; the entries between the first and the last
              chunk carry uuid, chunk ids, chunk count and total size.
  schemas     String, Json and Avro: the official consumer subscribes with
              the same schema class and decodes each value; every stored
              entry carries a schema version.
  routing     a 4-partition topic (admin PUT .../partitions); 1,000 keys
              (ASCII and non-ASCII) with java_string (default) and
              murmur3_32: the partition pulsarc picks equals the one the
              official Java producer picks with the same hashing scheme.

Usage (venv python from tools/interop/setup-venv.sh):
  features_interop.py --publisher BUILD/tests/interop/pulsarc-interop-publish
      [--root REPO] [--only codecs,...] [--keep]
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pulsar

from case_runner import check, start_real_broker, suite_main  # noqa: E402
from pulsar.schema import AvroSchema, Integer, JsonSchema, Record, StringSchema

MAX_MESSAGE_SIZE = 1 << 20




class Point(Record):
    x = Integer()
    y = Integer()


JAVA_PRODUCER = r"""
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import org.apache.pulsar.client.api.*;

public class KeyRouting {
  public static void main(String[] a) throws Exception {
    String url = a[0], topic = a[1], scheme = a[2];
    List<String> keys = Files.readAllLines(Paths.get(a[3]), StandardCharsets.UTF_8);
    try (PulsarClient c = PulsarClient.builder().serviceUrl(url).build();
         Producer<byte[]> p = c.newProducer().topic(topic).enableBatching(false)
             .hashingScheme(HashingScheme.valueOf(scheme)).create()) {
      List<CompletableFuture<MessageId>> fs = new ArrayList<>();
      for (String k : keys)
        fs.add(p.newMessage().key(k).value(k.getBytes(StandardCharsets.UTF_8)).sendAsync());
      StringBuilder out = new StringBuilder();
      for (int i = 0; i < keys.size(); i++) {
        MessageId id = fs.get(i).get(60, TimeUnit.SECONDS);
        int part = ((org.apache.pulsar.client.impl.MessageIdImpl) id).getPartitionIndex();
        out.append("ROUTE ").append(i).append(' ').append(part).append('\n');
      }
      System.out.print(out);
    }
  }
}
"""


class Suite:
    def __init__(self, args):
        self.a = args
        self.root = args.root
        self.broker_sh = os.path.join(self.root, "tools/real-broker/pulsar-broker.sh")
        self.consume = os.path.join(self.root, "tools/interop/consume_check.py")
        self.dir = None
        self.env = {}
        self.run_id = uuid.uuid4().hex[:6]

    def start_broker(self):
        self.dir = tempfile.mkdtemp(prefix="pulsarc-features-")
        env = dict(os.environ)
        env["PULSAR_CONF_EXTRA"] = f"maxMessageSize={MAX_MESSAGE_SIZE}"
        self.env, took = start_real_broker(self.broker_sh, self.dir, env)
        self.service_url = self.env["PULSAR_SERVICE_URL"]
        self.web_url = self.env["PULSAR_WEB_URL"].rstrip("/")
        print(f"broker {self.env.get('PULSAR_VERSION')} up in {took:.1f}s "
              f"({self.service_url})", flush=True)

    def stop_broker(self, keep):
        if not self.dir:
            return
        subprocess.run([self.broker_sh, "stop", self.dir], check=False,
                       stdout=subprocess.DEVNULL)
        if keep:
            print(f"broker dir kept: {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def topic(self, case):
        return f"features-{case}-{self.run_id}"

    def run_json(self, cmd, what, timeout=180):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rows = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
        if p.returncode != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-8:])
            print(f"  {what} exited {p.returncode}; stderr tail:\n    "
                  + tail.replace("\n", "\n    "), flush=True)
        return p.returncode, rows

    def publish(self, topic, n, *flags):
        cmd = [self.a.publisher, "--service-url", self.service_url, "--topic", topic,
               "-n", str(n), "--mode", "cb", *flags]
        rc, rows = self.run_json(cmd, "pulsarc-interop-publish")
        check(rc == 0, f"pulsarc publisher exit {rc}; errors: "
              + str([(r["index"], r["error"]) for r in rows if r.get("error")][:5]))
        check(len(rows) == n, f"publisher printed {len(rows)} lines, wanted {n}")
        return rows

    def consume_raw(self, topic, n):
        cmd = [sys.executable, self.consume, "--service-url", self.service_url, "--topic", topic,
               "--count", str(n), "--timeout", "60", "--extra-wait-ms", "500"]
        rc, rows = self.run_json(cmd, "consume_check.py")
        check(rc == 0, f"official consumer received {len(rows)}/{n} (rc {rc})")
        return rows

    def entry(self, topic, ledger, entry):
        url = (f"{self.web_url}/admin/v2/persistent/public/default/{topic}"
               f"/ledger/{ledger}/entry/{entry}")
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders() if k.lower().startswith("x-pulsar")}
        return hdrs, body

    def client(self):
        return pulsar.Client(self.service_url, operation_timeout_seconds=30,
                             logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))


def distinct_entries(rows):
    seen = []
    for r in rows:
        k = (r["ledger_id"], r["entry_id"])
        if k not in seen:
            seen.append(k)
    return seen


# ---------------------------------------------------------------- cases
def case_codecs(s):
    n = 20
    for codec in ("lz4", "zlib", "zstd", "snappy"):
        for batching in ("on", "off"):
            t = s.topic(f"codec-{codec}-{batching}")
            pub = s.publish(t, n, "--compression", codec, "--batching", batching,
                            "--batch-max-messages", "10", "--batch-max-delay-ms", "200",
                            "--payload-pattern", f"{codec}-{{i}}-" + "compressible " * 40)
            got = s.consume_raw(t, n)
            check([g["payload"] for g in got] == [p["payload"] for p in pub],
                  f"{codec}/{batching}: consumer payloads differ from what was published")
            for ledger, entry in distinct_entries(pub):
                h, body = s.entry(t, ledger, entry)
                check(h.get("x-pulsar-compression", "").upper() == codec.upper(),
                      f"{codec}/{batching} entry {ledger}:{entry}: compression header "
                      f"{h.get('x-pulsar-compression')!r}")
                usize = int(h.get("x-pulsar-uncompressed-size", "-1"))
                check(usize == len(body),
                      f"{codec}/{batching} entry {ledger}:{entry}: uncompressed size {usize}, "
                      f"body {len(body)} bytes")
                if batching == "on":
                    check("x-pulsar-num-batch-message" in h,
                          f"{codec} entry {ledger}:{entry} is not a batch")


def case_chunking(s):
    for codec in ("none", "lz4"):
        for size in (MAX_MESSAGE_SIZE * 3 // 2, MAX_MESSAGE_SIZE * 3):
            t = s.topic(f"chunk-{codec}-{size}")
            n = 2
            pub = s.publish(t, n, "--batching", "off", "--chunking", "on", "--compression",
                            codec, "--payload-size", str(size), "--payload-pattern",
                            "chunk-{i}-")
            got = s.consume_raw(t, n)
            for i, (p, g) in enumerate(zip(pub, got)):
                check(g["payload"] == p["payload"],
                      f"{codec}/{size} message {i}: consumer got {g['size']} bytes, "
                      f"published {len(p['payload'])}")
                check(p["first_chunk_entry_id"] >= 0,
                      f"{codec}/{size} message {i}: id names no first chunk")
                if codec != "none":
                    continue  # a compressed chunk alone does not decode at the admin endpoint
                first, last = p["first_chunk_entry_id"], p["entry_id"]
                nchunks = last - first + 1
                check(nchunks >= 2, f"{codec}/{size} message {i}: {nchunks} chunk(s)")
                for k, e in enumerate(range(first, last + 1)):
                    h, body = s.entry(t, p["ledger_id"], e)
                    check(int(h.get("x-pulsar-chunk-id", -1)) == k,
                          f"entry {e}: chunk id {h.get('x-pulsar-chunk-id')} != {k}")
                    check(int(h.get("x-pulsar-num-chunks-from-msg", -1)) == nchunks,
                          f"entry {e}: num chunks {h.get('x-pulsar-num-chunks-from-msg')}")
                    check(int(h.get("x-pulsar-total-chunk-msg-size", -1)) == size,
                          f"entry {e}: total size {h.get('x-pulsar-total-chunk-msg-size')}")
                    check(h.get("x-pulsar-uuid", "").endswith(f"-{h.get('x-pulsar-sequence-id')}"),
                          f"entry {e}: uuid {h.get('x-pulsar-uuid')!r}")
                    check(len(body) <= MAX_MESSAGE_SIZE, f"entry {e}: chunk of {len(body)} bytes")
            print(f"  chunking {codec} {size} B: ok", flush=True)


def consume_values(s, topic, schema, n):
    c = s.client()
    try:
        cons = c.subscribe(f"persistent://public/default/{topic}", f"sub-{uuid.uuid4().hex[:6]}",
                           schema=schema, initial_position=pulsar.InitialPosition.Earliest)
        out = []
        deadline = time.monotonic() + 60
        while len(out) < n and time.monotonic() < deadline:
            try:
                m = cons.receive(timeout_millis=1000)
            except pulsar.Timeout:
                continue
            mid = m.message_id()
            out.append((m.value(), mid.ledger_id(), mid.entry_id()))
            cons.acknowledge(m)
        cons.close()
        return out
    finally:
        c.close()


def check_versions(s, topic, got, label):
    for _, ledger, entry in got:
        h, _ = s.entry(topic, ledger, entry)
        # Pulsar 4.0.7 names it X-Pulsar-Base64-schema-version.
        check("x-pulsar-base64-schema-version" in h,
              f"{label}: entry {ledger}:{entry} has no schema version (headers {sorted(h)})")


def case_schemas(s):
    n = 20
    # String
    t = s.topic("schema-string")
    pub = s.publish(t, n, "--schema-type", "string", "--payload-pattern", "str-{i}-é")
    got = consume_values(s, t, StringSchema(), n)
    check([v for v, _, _ in got] == [p["payload"] for p in pub],
          f"string: consumer values {[v for v, _, _ in got][:3]}...")
    check_versions(s, t, got, "string")
    # Json
    t = s.topic("schema-json")
    js = JsonSchema(Point)
    pub = s.publish(t, n, "--schema-type", "json", "--schema-name", "Point",
                    "--schema-definition", js.schema_info().schema(),
                    "--payload-pattern", '{"x": {i}, "y": 7}')
    got = consume_values(s, t, js, n)
    check([(v.x, v.y) for v, _, _ in got] == [(i, 7) for i in range(n)],
          f"json: consumer values {[(v.x, v.y) for v, _, _ in got][:3]}...")
    check_versions(s, t, got, "json")
    # Avro (binary records: handed to the publisher base64-encoded)
    t = s.topic("schema-avro")
    av = AvroSchema(Point)
    path = os.path.join(s.dir, "avro-payloads.txt")
    with open(path, "w") as f:
        for i in range(n):
            f.write(base64.b64encode(av.encode(Point(x=i + 1, y=2 * (i + 1)))).decode() + "\n")
    s.publish(t, n, "--schema-type", "avro", "--schema-name", "Point",
              "--schema-definition", av.schema_info().schema(), "--payload-file", path)
    got = consume_values(s, t, av, n)
    check([(v.x, v.y) for v, _, _ in got] == [(i + 1, 2 * (i + 1)) for i in range(n)],
          f"avro: consumer values {[(v.x, v.y) for v, _, _ in got][:3]}...")
    check_versions(s, t, got, "avro")


def java_partitions(s, topic, scheme, keys):
    work = os.path.join(s.dir, "java")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "KeyRouting.java")
    with open(src, "w") as f:
        f.write(JAVA_PRODUCER)
    keyfile = os.path.join(work, f"keys-{scheme}.txt")
    with open(keyfile, "w", encoding="utf-8") as f:
        f.write("\n".join(keys) + "\n")
    cache = os.environ.get("PULSARC_CACHE", os.path.expanduser("~/.cache/pulsarc"))
    cp_file = os.path.join(cache, "real-broker", f"pulsar-broker-{s.env['PULSAR_VERSION']}.classpath")
    with open(cp_file) as f:
        cp = f.read().strip()
    java = os.environ.get("PULSARC_JAVA", "java")
    p = subprocess.run([java, "-cp", cp, src, s.service_url,
                        f"persistent://public/default/{topic}", scheme, keyfile],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"official Java producer exit {p.returncode}: "
          + " | ".join(p.stderr.strip().splitlines()[-5:]))
    out = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "ROUTE":
            out[int(f[1])] = int(f[2])
    check(len(out) == len(keys), f"Java producer reported {len(out)}/{len(keys)} partitions")
    return out


def create_partitioned(s, topic, n):
    req = urllib.request.Request(
        f"{s.web_url}/admin/v2/persistent/public/default/{topic}/partitions",
        data=str(n).encode(), method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        check(resp.status in (200, 204), f"create partitioned topic: HTTP {resp.status}")


def case_routing(s):
    parts = 4
    patterns = ["key-{i}", "ключ-{i}-日本-😀-é"]  # 500 of each: 1,000 keys
    for hashing, scheme in (("java_string", "JavaStringHash"), ("murmur3_32", "Murmur3_32Hash")):
        t = s.topic(f"route-{hashing}")
        create_partitioned(s, t, parts)
        keys, mine = [], []
        for pat in patterns:
            pub = s.publish(t, 500, "--hashing", hashing, "--key-pattern", pat,
                            "--batching", "on", "--batch-max-delay-ms", "20")
            keys += [pat.replace("{i}", str(i)) for i in range(500)]
            mine += [r["partition"] for r in pub]
        check(set(mine) <= set(range(parts)), f"{hashing}: partitions {sorted(set(mine))}")
        official = java_partitions(s, t, scheme, keys)
        diff = [(keys[i], mine[i], official[i]) for i in range(len(keys)) if mine[i] != official[i]]
        check(not diff, f"{hashing}: {len(diff)} of {len(keys)} keys on another partition than "
              f"the official producer's, e.g. (key, pulsarc, official) {diff[:3]}")
        spread = [mine.count(k) for k in range(parts)]
        print(f"  routing {hashing}: 1000 keys agree, spread {spread}", flush=True)


CASES = [("codecs", case_codecs), ("chunking", case_chunking), ("schemas", case_schemas),
         ("routing", case_routing)]


def main():
    return suite_main(__doc__, Suite, CASES)


if __name__ == "__main__":
    sys.exit(main())
