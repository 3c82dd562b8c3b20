#!/usr/bin/env python3
"""pulsarc transactions against a REAL Apache Pulsar broker with the
transaction coordinator on (transactionCoordinatorEnabled=true,
systemTopicEnabled=true; the standalone creates the coordinators' topic
persistent://pulsar/system/transaction_coordinator_assign itself) and
token authentication on (an HS256 secret and JWTs made here), read by the
OFFICIAL Python client (pulsar-client from PyPI). The broker hides a
transaction's messages from every consumer until it commits and drops
them when it aborts.

pulsarc-txn-publish (tests/interop/txn_publish.c) is driven line by line
(begin / send / commit / abort) so the consumer can look between steps.
Cases, one "PASS name" / "FAIL name: why" line each:
  commit_visibility  10 messages sent and acknowledged in a transaction:
                     the consumer sees none of them before the commit,
                     all 10, in order, after it.
  abort_never_seen   5 messages in a transaction that is aborted, then 3
                     in one that commits: the consumer sees exactly the 3.
  timeout_aborts     a transaction with a 2 s timeout, 3 messages, no
                     commit for 4 s: the coordinator aborted it, commit
                     fails with the broker's error, and the consumer never
                     sees the 3 (a committed marker after them is seen).
  partitioned        a 4-partition topic, 12 messages round robin in one
                     transaction: nothing on any partition before the
                     commit, all 12 after it.

With --encryption-publisher (pulsarc-interop-publish), the same broker
start then runs encryption_interop.py's cases (named "encryption.CASE"),
their clients with the token: issue 16's stages start one broker.

Usage (venv python from tools/interop/setup-venv.sh):
  txn_interop.py --publisher BUILD/tests/interop/pulsarc-txn-publish
      [--encryption-publisher BUILD/tests/interop/pulsarc-interop-publish]
      [--root REPO] [--only commit_visibility,encryption.unbatched,...]
      [--keep] [--no-auth]
"""
import base64
import hashlib
import argparse
import hmac
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encryption_interop  # noqa: E402
from case_runner import check, run_cases, start_real_broker  # noqa: E402


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(secret, subject):
    header = b64url(json.dumps({"alg": "HS256"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps({"sub": subject}, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


class Publisher:
    """pulsarc-txn-publish as a child: one command, one answer line."""

    def __init__(self, exe, url, token):
        cmd = [exe, "--service-url", url]
        if token:
            cmd += ["--conf", f"auth_token={token}"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=sys.stderr, text=True, bufsize=1)

    def do(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        ans = self.p.stdout.readline().strip()
        check(ans != "", f"publisher gave no answer to {line!r} (exit {self.p.poll()})")
        return ans

    def ok(self, line):
        ans = self.do(line)
        check(ans.startswith("ok"), f"{line!r}: {ans}")
        return ans

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:  # noqa: BLE001 - the child goes either way
            self.p.kill()


class Suite:
    def __init__(self, args):
        self.a = args
        self.broker_sh = os.path.join(args.root, "tools/real-broker/pulsar-broker.sh")
        self.dir = None
        self.env = {}
        self.run_id = uuid.uuid4().hex[:6]
        self.pub = None
        self.client = None
        self.enc = None

    def start_broker(self):
        self.dir = tempfile.mkdtemp(prefix="pulsarc-txn-")
        extra = ["transactionCoordinatorEnabled=true", "systemTopicEnabled=true"]
        env = dict(os.environ)
        self.token = None
        if not self.a.no_auth:
            secret = os.urandom(32)
            admin = make_jwt(secret, "admin")
            self.token = make_jwt(secret, "pulsarc-client")
            extra += [
                "authenticationEnabled=true",
                "authenticationProviders="
                "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
                "tokenSecretKey=data:;base64," + base64.b64encode(secret).decode(),
                "superUserRoles=admin",
                "authorizationEnabled=false",
                "brokerClientAuthenticationPlugin="
                "org.apache.pulsar.client.impl.auth.AuthenticationToken",
                f"brokerClientAuthenticationParameters=token:{admin}",
            ]
            env["PULSAR_ADMIN_TOKEN"] = admin
            self.admin = admin
        env["PULSAR_CONF_EXTRA"] = "\n".join(extra)
        # The coordinator and its system topics add to the start; a loaded
        # machine needs more than the script's 30 s.
        env.setdefault("PULSAR_START_TIMEOUT", "120")
        self.env, took = start_real_broker(self.broker_sh, self.dir, env)
        self.service_url = self.env["PULSAR_SERVICE_URL"]
        self.web_url = self.env["PULSAR_WEB_URL"].rstrip("/")
        print(f"broker {self.env.get('PULSAR_VERSION')} up in {took:.1f}s "
              f"({self.service_url}, token auth {'off' if self.a.no_auth else 'on'})",
              flush=True)
        kw = {}
        if self.token:
            kw["authentication"] = pulsar.AuthenticationToken(self.token)
        self.client = pulsar.Client(self.service_url, operation_timeout_seconds=30,
                                    logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error), **kw)
        self.pub = Publisher(self.a.publisher, self.service_url, self.token)
        # The coordinators load after the broker says ready: the first begin
        # may wait (pulsarc retries "coordinator not found" within its
        # operation timeout); time it once here.
        t1 = time.monotonic()
        ans = self.pub.do("begin")
        if ans.startswith("ok"):
            self.pub.ok("abort")
        print(f"first transaction: {ans} after {time.monotonic() - t1:.1f}s", flush=True)
        if self.a.encryption_publisher:
            enc_args = argparse.Namespace(publisher=self.a.encryption_publisher,
                                          root=self.a.root)
            self.enc = encryption_interop.Suite(enc_args)
            self.enc.attach(self.service_url, self.token)

    def stop_broker(self, keep):
        if self.enc is not None:
            self.enc.stop_broker(keep)
        if self.pub is not None:
            self.pub.close()
        if self.client is not None:
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
        return f"persistent://public/default/txn-{case}-{self.run_id}"

    def subscribe(self, topic):
        return self.client.subscribe(topic, "check",
                                     initial_position=pulsar.InitialPosition.Earliest)

    def create_partitioned(self, topic, n):
        name = topic.split("/")[-1]
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.admin}"
        req = urllib.request.Request(
            f"{self.web_url}/admin/v2/persistent/public/default/{name}/partitions",
            data=str(n).encode(), method="PUT", headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            check(resp.status in (200, 204), f"create partitioned topic: HTTP {resp.status}")


def receive(consumer, n, timeout_ms):
    """Up to n payloads; stops at the first receive that times out."""
    out = []
    try:
        while len(out) < n:
            m = consumer.receive(timeout_millis=timeout_ms)
            consumer.acknowledge(m)
            out.append(m.data().decode())
    except pulsar.Timeout:
        pass
    return out


def case_commit_visibility(s):
    t = s.topic("commit")
    c = s.subscribe(t)
    try:
        s.pub.ok("begin")
        sent = [f"c-{i}" for i in range(10)]
        for m in sent:
            s.pub.ok(f"send {t} {m}")  # acknowledged by the broker
        early = receive(c, 10, 2000)
        check(early == [], f"seen before the commit: {early}")
        s.pub.ok("commit")
        got = receive(c, 10, 20000)
        check(got == sent, f"after the commit: {got}")
    finally:
        c.close()


def case_abort_never_seen(s):
    t = s.topic("abort")
    c = s.subscribe(t)
    try:
        s.pub.ok("begin")
        for i in range(5):
            s.pub.ok(f"send {t} aborted-{i}")
        s.pub.ok("abort")
        s.pub.ok("begin")
        kept = [f"kept-{i}" for i in range(3)]
        for m in kept:
            s.pub.ok(f"sendasync {t} {m}")
        s.pub.ok("commit")  # waits for the async sends
        got = receive(c, 8, 5000)
        check(got == kept, f"seen: {got}")
    finally:
        c.close()


def case_timeout_aborts(s):
    t = s.topic("timeout")
    c = s.subscribe(t)
    try:
        s.pub.ok("begin 2000")
        for i in range(3):
            s.pub.ok(f"send {t} late-{i}")
        time.sleep(4)
        ans = s.pub.do("commit")
        check(ans.startswith("err PULSARC_ERR_BROKER_"), f"commit after the timeout: {ans}")
        print(f"  commit after the timeout: {ans}", flush=True)
        s.pub.ok("begin")
        s.pub.ok(f"send {t} marker")
        s.pub.ok("commit")
        got = receive(c, 4, 5000)
        check(got == ["marker"], f"seen: {got}")
    finally:
        c.close()


def case_partitioned(s):
    t = s.topic("parts")
    s.create_partitioned(t, 4)
    c = s.subscribe(t)
    try:
        s.pub.ok("begin")
        sent = [f"p-{i}" for i in range(12)]
        for m in sent:
            s.pub.ok(f"send {t} {m}")
        early = receive(c, 12, 2000)
        check(early == [], f"seen before the commit: {early}")
        s.pub.ok("commit")
        got = receive(c, 12, 20000)
        check(sorted(got) == sorted(sent), f"after the commit: {sorted(got)}")
    finally:
        c.close()


CASES = [("commit_visibility", case_commit_visibility),
         ("abort_never_seen", case_abort_never_seen),
         ("timeout_aborts", case_timeout_aborts),
         ("partitioned", case_partitioned)]


def encryption_case(fn):
    def run(s):
        check(s.enc is not None, "no --encryption-publisher")
        fn(s.enc)
    return run


ENCRYPTION_CASES = [(f"encryption.{name}", encryption_case(fn))
                    for name, fn in encryption_interop.CASES]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--encryption-publisher", default="",
                    help="pulsarc-interop-publish: also run the encryption cases")
    ap.add_argument("--root", default=os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-auth", action="store_true", help="token authentication off")
    a = ap.parse_args()
    a.publisher = os.path.abspath(a.publisher)
    cases = CASES
    if a.encryption_publisher:
        a.encryption_publisher = os.path.abspath(a.encryption_publisher)
        cases = CASES + ENCRYPTION_CASES
    only = {x for x in a.only.split(",") if x}
    unknown = only - {name for name, _ in cases}
    if unknown:
        ap.error(f"unknown case(s): {sorted(unknown)}")
    return run_cases(Suite(a), cases, only, a.keep)


if __name__ == "__main__":
    sys.exit(main())
