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
  oauth2_publish      pulsarc-produce with --oauth2-* flags against a local
                      HTTPS token endpoint (OpenID discovery + client
                      credentials) whose JWTs are signed with the broker's
                      HS256 key: the broker accepts them, the official
                      consumer reads all 20 messages; endpoint hit once.
  oauth2_refresh      pulsarc-perf for 14 s with 5 s tokens (broker refresh
                      check every 2 s): the broker challenges expired
                      credentials and pulsarc answers with its refreshed
                      token on the same connection (no connection opened or
                      closed after the first challenge, "answering" logged,
                      pulsarc-perf succeeds, endpoint hit at least twice).
  oauth2_bad_secret   a wrong client secret: pulsarc-produce fails fast with
                      "authentication failed", the endpoint hit exactly once,
                      the secret in no output.

Usage: tls_interop.py --produce BUILD/tools/produce/pulsarc-produce
                      [--perf BUILD/tools/perf/pulsarc-perf] [--root REPO] [--keep]
(the oauth2_refresh case needs --perf; default: next to --produce)
Re-executes itself with the venv python (tools/interop/setup-venv.sh) when
the `pulsar` module is missing. Exit status 0 only if every case passed.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import threading
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
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


def make_signed_jwt(secret, claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


class TokenEndpoint:
    """An OAuth2 authorization server over HTTPS on 127.0.0.1: discovery at
    /.well-known/openid-configuration and a client_credentials token
    endpoint issuing HS256 JWTs (sub, exp) that the broker verifies."""

    def __init__(self, d, secret, client_id, client_secret, lifetime):
        self.hits = 0
        self.lifetime = lifetime
        ep = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self.reply(200, {"issuer": ep.issuer,
                                     "token_endpoint": ep.issuer + "/oauth/token"})
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                if self.path != "/oauth/token":
                    self.reply(404, {"error": "not_found"})
                    return
                ep.hits += 1
                if (form.get("grant_type") != "client_credentials"
                        or form.get("client_id") != client_id
                        or form.get("client_secret") != client_secret):
                    self.reply(401, {"error": "invalid_client",
                                     "error_description": "client authentication failed"})
                    return
                exp = int(time.time()) + ep.lifetime
                tok = make_signed_jwt(secret, {"sub": "pulsarc-oauth2", "exp": exp})
                self.reply(200, {"access_token": tok, "token_type": "Bearer",
                                 "expires_in": ep.lifetime})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


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
    ap.add_argument("--perf")
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
        # Expired credentials are challenged within 2 s (oauth2_refresh).
        "authenticationRefreshCheckSeconds=2",
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

        oauth_id, oauth_secret = "pulsarc-oauth2", "oauth2-" + uuid.uuid4().hex
        creds = os.path.join(d, "oauth2.json")
        with open(creds, "w") as f:
            json.dump({"client_id": oauth_id, "client_secret": oauth_secret}, f)
        os.chmod(creds, 0o600)

        def oauth2_flags(ep, cred_file=creds):
            return ["--tls-trust-cert", f"{d}/ca.pem", "--oauth2-issuer-url", ep.issuer,
                    "--oauth2-credentials-file", cred_file, "--oauth2-audience",
                    "urn:pulsarc:interop"]

        def oauth2_publish():
            ep = TokenEndpoint(d, secret, oauth_id, oauth_secret, 3600)
            try:
                topic = f"persistent://public/default/oauth2-interop-{uuid.uuid4().hex[:8]}"
                msgs = [f"oauth2-msg-{i}" for i in range(20)]
                r = produce(topic, msgs, *oauth2_flags(ep))
                if r.returncode != 0:
                    raise Failure(f"pulsarc-produce exit {r.returncode}: {r.stderr.strip()}")
                if oauth_secret in r.stderr + r.stdout:
                    raise Failure("the client secret appeared in pulsarc-produce's output")
                if ep.hits != 1:
                    raise Failure(f"token endpoint hit {ep.hits} times, want 1")
            finally:
                ep.close()
            client = pulsar.Client(url, tls_trust_certs_file_path=f"{d}/ca.pem",
                                   authentication=pulsar.AuthenticationToken(client_token))
            try:
                consumer = client.subscribe(topic, "oauth2-check",
                                            initial_position=pulsar.InitialPosition.Earliest)
                got = []
                for _ in msgs:
                    m = consumer.receive(timeout_millis=20000)
                    got.append(m.data().decode())
                    consumer.acknowledge(m)
                consumer.close()
            finally:
                client.close()
            if got != msgs:
                raise Failure(f"consumer read {got}")

        def oauth2_refresh():
            perf = a.perf or os.path.join(os.path.dirname(os.path.dirname(a.produce)),
                                          "perf", "pulsarc-perf")
            ep = TokenEndpoint(d, secret, oauth_id, oauth_secret, 5)
            try:
                topic = f"persistent://public/default/oauth2-refresh-{uuid.uuid4().hex[:8]}"
                cmd = [perf, "--service-url", url, "--topic", topic, "--duration", "14",
                       "--rate", "200", "--conf", "send_timeout_ms=0", *oauth2_flags(ep)]
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=120,
                                   env=dict(os.environ, PULSARC_LOG_LEVEL="info"))
                out = r.stdout + r.stderr
                if r.returncode != 0:
                    raise Failure(f"pulsarc-perf exit {r.returncode}: {out.strip()[-600:]}")
                if oauth_secret in out:
                    raise Failure("the client secret appeared in pulsarc-perf's output")
                answered = out.count("broker asked for fresh credentials; answering")
                # pulsarc may hold more than one connection to the broker
                # (lookup and producer); none may be opened or lost once the
                # challenges begin.
                lines = [ln for ln in out.splitlines() if "conn " in ln]
                conn_lines = "\n".join(lines)
                first = next((i for i, ln in enumerate(lines)
                              if "broker asked for fresh credentials" in ln), None)
                if answered < 1 or first is None:
                    raise Failure(f"no AUTH_CHALLENGE answered: {out.strip()[-600:]}")
                later = lines[first:]
                if any(": connected (server" in ln or "closed" in ln or "failed" in ln
                       for ln in later):
                    raise Failure(f"a connection was lost or opened after the first "
                                  f"challenge:\n{conn_lines}")
                peers = sum(1 for ln in lines[:first] if ": connected (server" in ln)
                if ep.hits < 2:
                    raise Failure(f"token endpoint hit {ep.hits} times, want >= 2")
                print(f"  oauth2_refresh: {ep.hits} token requests, {answered} challenges "
                      f"answered on {peers} connection(s), none reopened", flush=True)
            finally:
                ep.close()

        def oauth2_bad_secret():
            ep = TokenEndpoint(d, secret, oauth_id, oauth_secret, 3600)
            bad = os.path.join(d, "oauth2-bad.json")
            with open(bad, "w") as f:
                json.dump({"client_id": oauth_id, "client_secret": "wrong-" + oauth_secret}, f)
            try:
                t = time.monotonic()
                r = produce("oauth2-interop-bad", ["x"], *oauth2_flags(ep, bad))
                took = time.monotonic() - t
                if r.returncode == 0:
                    raise Failure("a wrong client secret was accepted")
                if "authentication failed" not in r.stderr or "refused client_id" not in r.stderr:
                    raise Failure(f"no clear authentication error: {r.stderr.strip()}")
                if oauth_secret in r.stderr + r.stdout:
                    raise Failure("the secret appeared in the error output")
                if ep.hits != 1:
                    raise Failure(f"token endpoint hit {ep.hits} times, want exactly 1")
                if took > 20:
                    raise Failure(f"took {took:.1f} s")
            finally:
                ep.close()

        case("tls_token_publish", tls_token_publish)
        case("bad_token_refused", bad_token_refused)
        case("untrusted_refused", untrusted_refused)
        t_oauth = time.monotonic()
        case("oauth2_publish", oauth2_publish)
        case("oauth2_refresh", oauth2_refresh)
        case("oauth2_bad_secret", oauth2_bad_secret)
        print(f"oauth2 cases took {time.monotonic() - t_oauth:.1f}s", flush=True)
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
