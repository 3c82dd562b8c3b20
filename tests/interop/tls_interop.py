#!/usr/bin/env python3
"""pulsarc interop over TLS with token authentication: a REAL Apache Pulsar
broker (tools/real-broker/pulsar-broker.sh) listening on brokerServicePortTls
with AuthenticationProviderToken, pulsarc-produce publishing over
pulsar+ssl:// with a token, and the OFFICIAL Python client (its own TLS and
token settings) consuming.

Everything secret is made here, at run time: a CA and a server certificate
for 127.0.0.1/localhost (openssl CLI), an HS256 secret and a JWT signed with
it (Python stdlib hmac + base64).

Cases (one broker for all), one "PASS name" / "FAIL name: reason" line each:
  tls_token_publish   20 messages through pulsarc over TLS + token; the
                      official consumer reads all 20, in order, same ids.
  bad_token_refused   a JWT signed with another key: pulsarc-produce fails
                      with "authentication failed".
  untrusted_refused   no --tls-trust-cert (system store): fails with a TLS
                      error naming the certificate problem.

Usage: tls_interop.py --produce BUILD/tools/produce/pulsarc-produce
                      [--root REPO] [--keep]
Re-executes itself with the venv python (tools/interop/setup-venv.sh) when
the `pulsar` module is missing. Exit status 0 only if every case passed.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid


def ensure_pulsar_module(root):
    try:
        import pulsar  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("PULSARC_TLS_INTEROP_REEXEC"):
        sys.exit("tls_interop: the venv python has no 'pulsar' module")
    py = subprocess.run([os.path.join(root, "tools/interop/setup-venv.sh")], check=True,
                        stdout=subprocess.PIPE, text=True).stdout.strip()
    os.environ["PULSARC_TLS_INTEROP_REEXEC"] = "1"
    os.execv(py, [py] + sys.argv)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(secret, subject):
    header = b64url(json.dumps({"alg": "HS256"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps({"sub": subject}, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certs(d):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=pulsarc interop CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)


class Failure(Exception):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--produce", required=True)
    ap.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                    "../..")))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    ensure_pulsar_module(a.root)
    import pulsar

    broker_sh = os.path.join(a.root, "tools/real-broker/pulsar-broker.sh")
    d = tempfile.mkdtemp(prefix="pulsarc-tls-interop-")
    make_certs(d)
    secret = os.urandom(32)
    admin_token = make_jwt(secret, "admin")
    client_token = make_jwt(secret, "pulsarc-client")
    bad_token = make_jwt(os.urandom(32), "pulsarc-client")
    token_file = os.path.join(d, "client.token")
    with open(token_file, "w") as f:
        f.write(client_token + "\n")
    os.chmod(token_file, 0o600)
    tls_port = free_port()
    extra = "\n".join([
        f"brokerServicePortTls={tls_port}",
        f"tlsCertificateFilePath={d}/server.pem",
        f"tlsKeyFilePath={d}/server.key",
        f"tlsTrustCertsFilePath={d}/ca.pem",
        "tlsRequireTrustedClientCertOnConnect=false",
        "authenticationEnabled=true",
        "authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
        "tokenSecretKey=data:;base64," + base64.b64encode(secret).decode(),
        "superUserRoles=admin",
        "authorizationEnabled=false",
        "brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken",
        f"brokerClientAuthenticationParameters=token:{admin_token}",
    ])
    env = dict(os.environ, PULSAR_CONF_EXTRA=extra, PULSAR_ADMIN_TOKEN=admin_token)
    bdir = os.path.join(d, "broker")
    t0 = time.monotonic()
    results = []
    try:
        subprocess.run([broker_sh, "start", bdir], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        url = f"pulsar+ssl://127.0.0.1:{tls_port}"
        print(f"broker up in {time.monotonic() - t0:.1f}s, TLS {url}", flush=True)

        def produce(topic, msgs, *flags):
            cmd = [a.produce, "--service-url", url, "-t", topic, *flags]
            for m in msgs:
                cmd += ["-m", m]
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  timeout=120)

        def case(name, fn):
            try:
                fn()
                results.append((name, None))
                print(f"PASS {name}", flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure the same way
                results.append((name, str(e)))
                print(f"FAIL {name}: {e}", flush=True)

        def tls_token_publish():
            topic = f"persistent://public/default/tls-interop-{uuid.uuid4().hex[:8]}"
            msgs = [f"tls-msg-{i}" for i in range(20)]
            r = produce(topic, msgs, "--tls-trust-cert", f"{d}/ca.pem", "--token-file",
                        token_file)
            if r.returncode != 0:
                raise Failure(f"pulsarc-produce exit {r.returncode}: {r.stderr.strip()}")
            ids = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
            if len(ids) != len(msgs):
                raise Failure(f"pulsarc-produce printed {len(ids)} ids, want {len(msgs)}")
            if client_token in r.stderr or client_token in r.stdout:
                raise Failure("the token appeared in pulsarc-produce's output")
            client = pulsar.Client(url, tls_trust_certs_file_path=f"{d}/ca.pem",
                                   tls_allow_insecure_connection=False,
                                   tls_validate_hostname=True,
                                   authentication=pulsar.AuthenticationToken(client_token))
            try:
                consumer = client.subscribe(
                    topic, "tls-check",
                    initial_position=pulsar.InitialPosition.Earliest)
                got = []
                for _ in msgs:
                    m = consumer.receive(timeout_millis=20000)
                    mid = m.message_id()
                    got.append((m.data().decode(), f"{mid.ledger_id()}:{mid.entry_id()}:"
                                f"{mid.partition()}:{mid.batch_index()}"))
                    consumer.acknowledge(m)
                consumer.close()
            finally:
                client.close()
            if [g[0] for g in got] != msgs:
                raise Failure(f"consumer read {[g[0] for g in got]}")
            if [g[1] for g in got] != ids:
                raise Failure(f"ids differ: pulsarc {ids[:3]}..., consumer "
                              f"{[g[1] for g in got][:3]}...")

        def bad_token_refused():
            r = produce("tls-interop-bad", ["x"], "--tls-trust-cert", f"{d}/ca.pem", "--token",
                        bad_token)
            if r.returncode == 0:
                raise Failure("a forged token was accepted")
            if "authentication failed" not in r.stderr:
                raise Failure(f"no authentication error reported: {r.stderr.strip()}")
            if bad_token in r.stderr:
                raise Failure("the token appeared in the error output")

        def untrusted_refused():
            r = produce("tls-interop-untrusted", ["x"], "--token-file", token_file)
            if r.returncode == 0:
                raise Failure("connected without trusting the broker's CA")
            if "certificate verify failed" not in r.stderr:
                raise Failure(f"no certificate error reported: {r.stderr.strip()}")

        case("tls_token_publish", tls_token_publish)
        case("bad_token_refused", bad_token_refused)
        case("untrusted_refused", untrusted_refused)
    finally:
        subprocess.run([broker_sh, "stop", bdir], check=False, stdout=subprocess.DEVNULL)
        if a.keep:
            print(f"kept {d}", flush=True)
        else:
            shutil.rmtree(d, ignore_errors=True)
    failed = sum(1 for _, e in results if e)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 0 if results and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
