#!/usr/bin/env python3
"""pulsarc end-to-end encryption against a REAL Apache Pulsar broker, read
back by the OFFICIAL Python client (pulsar-client from PyPI, its C++ core
decrypting with CryptoKeyReader(public, private)).

One broker for all cases (tools/real-broker/pulsar-broker.sh); an RSA-2048
key pair made at run time with the openssl CLI. pulsarc-interop-publish
encrypts with --conf encryption_keys=app-key,encryption_public_key_file=...
Cases, one "PASS name" / "FAIL name: why" line each:
  unbatched       10 messages, one per entry: the official consumer with
                  the private key reads every payload; encryption_context()
                  names key "app-key" with a 256-byte wrapped value and a
                  12-byte IV, and says not failed.
  batched_codecs  batches of 10 with none, lz4, zlib, zstd, snappy
                  (compressed, then encrypted whole): every payload read,
                  in order.
  chunked         200 KB messages over a 64 KiB max message size,
                  uncompressed and lz4 (each chunk encrypted alone under
                  its own IV): the consumer reassembles them.
  no_key          a consumer without the key and crypto_failure_action=
                  CONSUME gets the messages undecrypted:
                  is_decryption_failed() and the payload is not plaintext.
  rotation        20 messages with a rotation asked for before message 10:
                  keys() shows one wrapped data key for 0-9, another for
                  10-19.

Usage (venv python from tools/interop/setup-venv.sh):
  encryption_interop.py --publisher BUILD/tests/interop/pulsarc-interop-publish
      [--root REPO] [--only unbatched,...] [--keep]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pulsar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_runner import check, suite_main  # noqa: E402


class Suite:
    def __init__(self, args):
        self.a = args
        self.broker_sh = os.path.join(args.root, "tools/real-broker/pulsar-broker.sh")
        self.dir = None
        self.env = {}
        self.run_id = uuid.uuid4().hex[:6]

    def start_broker(self):
        self.dir = tempfile.mkdtemp(prefix="pulsarc-encryption-")
        self.priv = os.path.join(self.dir, "priv.pem")
        self.pub = os.path.join(self.dir, "pub.pem")
        subprocess.run(["openssl", "genrsa", "-out", self.priv, "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", self.priv, "-pubout", "-out", self.pub],
                       check=True, capture_output=True)
        t0 = time.monotonic()
        subprocess.run([self.broker_sh, "start", self.dir], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    self.env[k] = v
        self.service_url = self.env["PULSAR_SERVICE_URL"]
        print(f"broker {self.env.get('PULSAR_VERSION')} up in {time.monotonic() - t0:.1f}s "
              f"({self.service_url})", flush=True)
        self.client = pulsar.Client(self.service_url, operation_timeout_seconds=30,
                                    logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))

    def stop_broker(self, keep):
        if getattr(self, "client", None) is not None:
            self.client.close()
        if not self.dir:
            return
        subprocess.run([self.broker_sh, "stop", self.dir], check=False,
                       stdout=subprocess.DEVNULL)
        if keep:
            print(f"broker dir kept: {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def topic(self, case):
        return f"encryption-{case}-{self.run_id}"

    def publish(self, topic, n, *flags):
        cmd = [self.a.publisher, "--service-url", self.service_url, "--topic", topic,
               "-n", str(n), "--conf", "encryption_keys=app-key",
               "--conf", f"encryption_public_key_file={self.pub}", *flags]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        rows = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
        if p.returncode != 0:
            print("  publisher stderr tail:\n    "
                  + "\n    ".join(p.stderr.strip().splitlines()[-8:]), flush=True)
        check(p.returncode == 0, f"pulsarc publisher exit {p.returncode}")
        check(len(rows) == n, f"publisher printed {len(rows)} lines, wanted {n}")
        return [r["payload"] for r in rows]

    def consume(self, topic, n, with_key=True):
        kw = {"crypto_failure_action": pulsar.ConsumerCryptoFailureAction.CONSUME}
        if with_key:
            kw = {"crypto_key_reader": pulsar.CryptoKeyReader(self.pub, self.priv)}
        c = self.client.subscribe(topic, "check", initial_position=pulsar.InitialPosition.Earliest,
                                  **kw)
        msgs = []
        try:
            for _ in range(n):
                m = c.receive(timeout_millis=30000)
                c.acknowledge(m)
                msgs.append(m)
        except pulsar.Timeout:
            pass
        finally:
            c.close()
        return msgs


def data(msgs):
    return [m.data().decode("utf-8", "replace") for m in msgs]


def case_unbatched(s):
    t = s.topic("unbatched")
    sent = s.publish(t, 10, "--batching", "off", "--mode", "sync")
    got = s.consume(t, 10)
    check(data(got) == sent, f"read {len(got)}/10, payloads equal: {data(got) == sent}")
    for m in got:
        ctx = m.encryption_context()
        check(ctx is not None, "no encryption context")
        check(not ctx.is_decryption_failed(), "decryption failed")
        keys = ctx.keys()
        check(len(keys) == 1 and keys[0].key == "app-key", f"keys {[k.key for k in keys]}")
        check(len(keys[0].value) == 256, f"wrapped key {len(keys[0].value)} bytes")
        check(len(ctx.param()) == 12, f"IV {len(ctx.param())} bytes")


def case_batched_codecs(s):
    for codec in ("none", "lz4", "zlib", "zstd", "snappy"):
        t = s.topic(f"batched-{codec}")
        sent = s.publish(t, 30, "--batching", "on", "--compression", codec, "--mode", "cb",
                         "--batch-max-messages", "10", "--batch-max-delay-ms", "200",
                         "--payload-pattern", f"{codec}-{{i}}-" + "compressible " * 20)
        got = s.consume(t, 30)
        check(data(got) == sent, f"{codec}: read {len(got)}/30 or payloads differ")
        ctx = got[0].encryption_context()
        check(ctx is not None and not ctx.is_decryption_failed(), f"{codec}: not decrypted")


def case_chunked(s):
    for codec in ("none", "lz4"):
        t = s.topic(f"chunked-{codec}")
        sent = s.publish(t, 2, "--batching", "off", "--chunking", "on", "--compression", codec,
                         "--max-message-size", "65536", "--payload-size", "200000",
                         "--mode", "sync")
        got = s.consume(t, 2)
        check(len(got) == 2, f"{codec}: read {len(got)}/2 chunked messages")
        check(data(got) == sent, f"{codec}: reassembled payloads differ")


def case_no_key(s):
    t = s.topic("no-key")
    sent = s.publish(t, 5, "--batching", "off", "--mode", "sync")
    got = s.consume(t, 5, with_key=False)
    check(len(got) == 5, f"read {len(got)}/5 undecryptable messages")
    for m, plain in zip(got, sent):
        ctx = m.encryption_context()
        check(ctx is not None and ctx.is_decryption_failed(), "not marked decryption failed")
        check(plain.encode() not in m.data(), "plaintext visible without the key")


def case_rotation(s):
    t = s.topic("rotation")
    sent = s.publish(t, 20, "--batching", "off", "--mode", "sync", "--rotate-every", "10")
    got = s.consume(t, 20)
    check(data(got) == sent, f"read {len(got)}/20 or payloads differ")
    wrapped = [m.encryption_context().keys()[0].value for m in got]
    check(len(set(wrapped[:10])) == 1 and len(set(wrapped[10:])) == 1,
          "data key changed without a rotation")
    check(wrapped[0] != wrapped[10], "the same wrapped data key across the rotation")


CASES = [("unbatched", case_unbatched), ("batched_codecs", case_batched_codecs),
         ("chunked", case_chunked), ("no_key", case_no_key), ("rotation", case_rotation)]


def main():
    return suite_main(__doc__, Suite, CASES)


if __name__ == "__main__":
    sys.exit(main())
