#!/usr/bin/env python3
"""pulsarc end-to-end encryption against a REAL Apache Pulsar broker, read
back by the OFFICIAL Python client (pulsar-client from PyPI, its C++ core
decrypting with CryptoKeyReader(public, private)) and, for EC keys, by the
OFFICIAL Java client (org.apache.pulsar:pulsar-client from Maven Central,
the broker's version, with the BouncyCastle it bundles;
tests/interop/java/, built here by mvn): the C++ core, hence Python,
unwraps RSA keys only.

One broker for all cases: standalone, this script starts its own
(tools/real-broker/pulsar-broker.sh, no auth); in CI, txn_interop.py runs
these cases against its broker (transactions and token authentication on)
through Suite.attach(). An RSA-2048 and a P-256 key pair made at run time
with the openssl CLI.
pulsarc-interop-publish encrypts with --conf encryption_keys=app-key,
encryption_public_key_file=... (--public-key NAME=FILE for two kinds).
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
  ec_java         an EC (P-256) key, BouncyCastle's ECIES wrapping: the
                  Java consumer with the EC private key reads 10 unbatched
                  messages (key "app-ec", 117-byte wrapped value), 30 in
                  zstd batches of 10, and 2 chunked 200 KB messages; and a
                  producer with an EC and an RSA key ("app-ec,app-rsa") is
                  read by Python with the RSA key and by Java with the EC
                  key only. One JVM reads the four topics. The Python
                  consumer given the EC key pair cannot decrypt (RSA only):
                  is_decryption_failed().

Usage (venv python from tools/interop/setup-venv.sh):
  encryption_interop.py --publisher BUILD/tests/interop/pulsarc-interop-publish
      [--root REPO] [--only unbatched,...] [--keep]
"""
import base64
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pulsar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_runner import check, start_real_broker, suite_main  # noqa: E402


class Suite:
    def __init__(self, args):
        self.a = args
        self.broker_sh = os.path.join(args.root, "tools/real-broker/pulsar-broker.sh")
        self.dir = None
        self.env = {}
        self.run_id = uuid.uuid4().hex[:6]
        self.own_broker = False
        self.token_file = None
        self.client = None

    def make_keys(self):
        self.dir = tempfile.mkdtemp(prefix="pulsarc-encryption-")
        self.priv = os.path.join(self.dir, "priv.pem")
        self.pub = os.path.join(self.dir, "pub.pem")
        subprocess.run(["openssl", "genrsa", "-out", self.priv, "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", self.priv, "-pubout", "-out", self.pub],
                       check=True, capture_output=True)
        # SEC1 "EC PRIVATE KEY", as `openssl ecparam -genkey` writes it: the
        # form the Java client's key reader examples use.
        self.ec_priv = os.path.join(self.dir, "ec-priv.pem")
        self.ec_pub = os.path.join(self.dir, "ec-pub.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", self.ec_priv], check=True, capture_output=True)
        subprocess.run(["openssl", "ec", "-in", self.ec_priv, "-pubout", "-out", self.ec_pub],
                       check=True, capture_output=True)

    def attach(self, service_url, token=None):
        """Runs the cases against a broker someone else started; token: a
        JWT when it has token authentication on."""
        self.make_keys()
        self.service_url = service_url
        kw = {}
        if token:
            # A file, for pulsarc's auth_token_file and the Java consumer:
            # the token stays off the command lines.
            self.token_file = os.path.join(self.dir, "token")
            with open(self.token_file, "w") as f:
                f.write(token)
            kw["authentication"] = pulsar.AuthenticationToken(token)
        self.client = pulsar.Client(self.service_url, operation_timeout_seconds=30,
                                    logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error), **kw)

    def start_broker(self):
        self.make_keys()
        self.own_broker = True
        # A loaded machine (CI shares 2 cores) needs more than the script's 30 s.
        env = dict(os.environ)
        env.setdefault("PULSAR_START_TIMEOUT", "120")
        self.env, took = start_real_broker(self.broker_sh, self.dir, env)
        self.service_url = self.env["PULSAR_SERVICE_URL"]
        print(f"broker {self.env.get('PULSAR_VERSION')} up in {took:.1f}s "
              f"({self.service_url})", flush=True)
        self.client = pulsar.Client(self.service_url, operation_timeout_seconds=30,
                                    logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))

    def stop_broker(self, keep):
        if getattr(self, "client", None) is not None:
            self.client.close()
        if not self.dir:
            return
        if self.own_broker:
            subprocess.run([self.broker_sh, "stop", self.dir], check=False,
                           stdout=subprocess.DEVNULL)
        if keep:
            print(f"broker dir kept: {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def topic(self, case):
        return f"encryption-{case}-{self.run_id}"

    def publish(self, topic, n, *flags, keys=None):
        """keys: None for "app-key" with the RSA key, else {name: public PEM}."""
        if keys is None:
            enc = ["--conf", "encryption_keys=app-key",
                   "--conf", f"encryption_public_key_file={self.pub}"]
        else:
            enc = ["--conf", "encryption_keys=" + ",".join(keys)]
            for name, path in keys.items():
                enc += ["--public-key", f"{name}={path}"]
        cmd = [self.a.publisher, "--service-url", self.service_url, "--topic", topic,
               "-n", str(n), *enc, *flags]
        if self.token_file:
            cmd += ["--client-conf", f"auth_token_file={self.token_file}"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        rows = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
        if p.returncode != 0:
            print("  publisher stderr tail:\n    "
                  + "\n    ".join(p.stderr.strip().splitlines()[-8:]), flush=True)
        check(p.returncode == 0, f"pulsarc publisher exit {p.returncode}")
        check(len(rows) == n, f"publisher printed {len(rows)} lines, wanted {n}")
        return [r["payload"] for r in rows]

    def consume(self, topic, n, with_key=True, pair=None, sub="check"):
        """pair: (public, private) PEM files for the key reader, default RSA."""
        kw = {"crypto_failure_action": pulsar.ConsumerCryptoFailureAction.CONSUME}
        if with_key:
            kw = {"crypto_key_reader": pulsar.CryptoKeyReader(*(pair or (self.pub, self.priv)))}
            if pair is not None:  # expected to fail: deliver, marked, instead of stalling
                kw["crypto_failure_action"] = pulsar.ConsumerCryptoFailureAction.CONSUME
        c = self.client.subscribe(topic, sub, initial_position=pulsar.InitialPosition.Earliest,
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


    def java_consumer(self):
        """The command running tests/interop/java's DecryptingConsumer, built
        by mvn on first use into a cache keyed by the sources (~/.m2 holds
        the jars, nothing is written into the repository)."""
        src = os.path.join(self.a.root, "tests/interop/java")
        main = "src/main/java/io/pulsarc/interop/DecryptingConsumer.java"
        h = hashlib.sha256()
        for rel in ("pom.xml", main):
            with open(os.path.join(src, rel), "rb") as f:
                h.update(f.read())
        cache = os.path.join(os.environ.get("PULSARC_CACHE",
                                            os.path.expanduser("~/.cache/pulsarc")),
                             "java-consumer", h.hexdigest()[:16])
        cp_file = os.path.join(cache, "classpath")
        classes = os.path.join(cache, "classes")
        if not os.path.exists(cp_file) or not os.path.isdir(classes):
            t0 = time.monotonic()
            cmd = ["mvn", "-B", "-q", "-f", os.path.join(src, "pom.xml"),
                   f"-Dpulsarc.java.build={cache}", "compile", "dependency:build-classpath"]
            settings = os.environ.get("PULSARC_MAVEN_SETTINGS") or os.path.join(
                os.environ.get("PULSARC_CACHE", os.path.expanduser("~/.cache/pulsarc")),
                "real-broker", "maven-settings.xml")  # written by pulsar-broker.sh fetch
            if os.path.exists(settings):
                cmd[3:3] = ["-s", settings]
            for attempt in range(3):
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if p.returncode == 0:
                    break
                print(f"  mvn attempt {attempt + 1} failed:\n    "
                      + "\n    ".join((p.stdout + p.stderr).strip().splitlines()[-10:]),
                      flush=True)
                time.sleep(5 * (attempt + 1))
            check(p.returncode == 0, "could not build the Java consumer")
            print(f"  java consumer built in {time.monotonic() - t0:.1f}s ({cache})", flush=True)
        with open(cp_file) as f:
            cp = f.read().strip()
        # C1 only and the serial collector: a short-lived JVM starts on less
        # CPU (the suite shares 2 cores with the broker).
        return ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                classes + os.pathsep + cp, "io.pulsarc.interop.DecryptingConsumer"]

    def java_consume(self, topics, keys):
        """topics: [(topic, n)]; keys: {name: private PEM}. Returns
        {topic: [message dict]} as DecryptingConsumer printed them, data
        decoded."""
        cmd = self.java_consumer() + [self.service_url]
        if self.token_file:
            cmd += ["--token-file", self.token_file]
        for name, path in keys.items():
            cmd += ["--key", f"{name}={path}"]
        cmd += [f"{t}={n}" for t, n in topics]
        t0, r0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
        print(f"  java consumer ran in {time.monotonic() - t0:.1f}s ({cpu:.1f}s CPU)", flush=True)
        got = {t: [] for t, _ in topics}
        for ln in p.stdout.splitlines():
            if ln.startswith("{") and '"index"' in ln:
                row = json.loads(ln)
                row["data"] = base64.b64decode(row["data"]).decode("utf-8", "replace")
                got[row["topic"]].append(row)
        if p.returncode != 0:
            print("  java consumer stdout/stderr tail:\n    "
                  + "\n    ".join((p.stdout + p.stderr).strip().splitlines()[-12:]), flush=True)
        return got


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


def case_ec_java(s):
    ec = {"app-ec": s.ec_pub}
    unb, bat, chk, mix = (s.topic(n) for n in ("ec-unbatched", "ec-batched-zstd", "ec-chunked",
                                               "mixed-rsa-ec"))
    sent = {
        unb: s.publish(unb, 10, "--batching", "off", "--mode", "sync", keys=ec),
        bat: s.publish(bat, 30, "--batching", "on", "--compression", "zstd", "--mode", "cb",
                       "--batch-max-messages", "10", "--batch-max-delay-ms", "200",
                       "--payload-pattern", "ec-{i}-" + "compressible " * 20, keys=ec),
        chk: s.publish(chk, 2, "--batching", "off", "--chunking", "on",
                       "--max-message-size", "65536", "--payload-size", "200000",
                       "--mode", "sync", keys=ec),
        # EC first: each consumer must pass over the key it does not hold.
        mix: s.publish(mix, 10, "--batching", "on", "--batch-max-messages", "5", "--mode", "cb",
                       keys={"app-ec": s.ec_pub, "app-rsa": s.pub}),
    }
    got = s.java_consume([(t, len(v)) for t, v in sent.items()], {"app-ec": s.ec_priv})
    for t, payloads in sent.items():
        rows = got[t]
        check(len(rows) == len(payloads), f"{t}: Java read {len(rows)}/{len(payloads)}")
        check([r["data"] for r in rows] == payloads, f"{t}: Java's payloads differ "
              "(not decrypted?)")
    want = {"app-ec": 117}  # 65-byte point + 32 + 20-byte HMAC-SHA1 tag
    check(all(r["keys"] == want for t in (unb, bat, chk) for r in got[t]),
          f"EC keys seen by Java: {got[unb][0]['keys']}")
    check(all(r["keys"] == {"app-rsa": 256, "app-ec": 117} for r in got[mix]),
          f"mixed keys seen by Java: {got[mix][0]['keys']}")
    # The same mixed messages, read by the C++ core with the RSA key.
    py = s.consume(mix, 10)
    check(data(py) == sent[mix], f"Python (RSA key) read {len(py)}/10 mixed or payloads differ")
    ctx = py[0].encryption_context()
    check(ctx is not None and not ctx.is_decryption_failed(), "Python: mixed not decrypted")
    check(sorted(k.key for k in ctx.keys()) == ["app-ec", "app-rsa"],
          f"Python sees keys {[k.key for k in ctx.keys()]}")
    # The C++ core has no ECIES: given the EC pair it cannot read EC-only entries.
    py = s.consume(unb, 10, pair=(s.ec_pub, s.ec_priv), sub="python-ec")
    check(len(py) == 10, f"Python with the EC key: {len(py)}/10 delivered")
    check(all(m.encryption_context().is_decryption_failed() for m in py),
          "the Python client decrypted an ECIES-wrapped key (expected RSA only)")


CASES = [("unbatched", case_unbatched), ("batched_codecs", case_batched_codecs),
         ("chunked", case_chunked), ("no_key", case_no_key), ("rotation", case_rotation),
         ("ec_java", case_ec_java)]


def main():
    return suite_main(__doc__, Suite, CASES)


if __name__ == "__main__":
    sys.exit(main())
