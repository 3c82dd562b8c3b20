"""Shared helpers of the cluster tests: drive tools/real-cluster/pulsar-cluster.sh
with bounded waits, run pulsarc publishers, read back with the official client.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class ClusterError(Exception):
    pass


class Cluster:
    """One cluster started by pulsar-cluster.sh in its own state directory."""

    def __init__(self, root, state_dir):
        self.script = os.path.join(root, "tools", "real-cluster", "pulsar-cluster.sh")
        self.dir = os.path.abspath(state_dir)
        self.env = dict(os.environ, PULSARC_CLUSTER_DIR=self.dir)
        self.ports = {}
        self.start_seconds = None

    def run(self, *args, timeout=120, check=True):
        """One script command; its stdout, stripped. Bounded by timeout."""
        r = subprocess.run([self.script, *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if r.stderr.strip():
            for line in r.stderr.strip().splitlines():
                log(line)
        if check and r.returncode != 0:
            raise ClusterError(f"pulsar-cluster.sh {' '.join(args)} -> exit {r.returncode}")
        return r.stdout.strip()

    def start(self, *flags):
        t0 = time.monotonic()
        self.run("start", *flags, timeout=900)
        self.start_seconds = time.monotonic() - t0
        self.load_ports()
        log(f"cluster started in {self.start_seconds:.1f}s")

    def load_ports(self):
        with open(os.path.join(self.dir, "ports.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    self.ports[k] = v

    def stop(self):
        try:
            self.run("stop", timeout=300, check=False)
        except subprocess.TimeoutExpired:
            log("stop timed out")

    def url(self, member):
        return {
            "broker1": self.ports["PULSAR_CLUSTER_BROKER1_URL"],
            "broker2": self.ports["PULSAR_CLUSTER_BROKER2_URL"],
            "proxy": self.ports["PULSAR_CLUSTER_PROXY_URL"],
            "proxytls": self.ports["PULSAR_CLUSTER_PROXY_TLS_URL"],
            "multi": self.ports["PULSAR_CLUSTER_SERVICE_URL"],
            "multirev": (f"pulsar://127.0.0.1:{self.ports['BROKER2_PORT']},"
                         f"127.0.0.1:{self.ports['BROKER1_PORT']}"),
        }[member]

    def token(self, role="client"):
        """A valid token of role (admin, proxy, client) made at start."""
        with open(os.path.join(self.dir, "secrets", f"{role}.token")) as f:
            return f.read().strip()

    def pulsarc_flags(self, member, token_file=None):
        """pulsarc-cluster-publish client options to reach member: the CA
        and a token for proxytls (the proxy's TLS port), none otherwise."""
        if member != "proxytls":
            return []
        return ["--client-conf", f"tls_trust_certs_file={self.ports['PULSAR_CLUSTER_CA']}",
                "--client-conf",
                f"auth_token_file={token_file or self.ports['PULSAR_CLUSTER_CLIENT_TOKEN_FILE']}"]

    def official_args(self, member):
        """pulsar.Client keyword arguments to reach member (TLS + token for
        proxytls, the certificate's IP address checked)."""
        if member != "proxytls":
            return {}
        import pulsar
        return {"tls_trust_certs_file_path": self.ports["PULSAR_CLUSTER_CA"],
                "tls_validate_hostname": True, "tls_allow_insecure_connection": False,
                "authentication": pulsar.AuthenticationToken(self.token())}

    def owner(self, topic):
        """'broker1' or 'broker2' (admin lookup)."""
        return self.run("owner", topic).split()[0]

    def proxy_metric(self, name):
        url = f"http://127.0.0.1:{self.ports['PROXY_WEB_PORT']}/metrics/"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token('admin')}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        m = re.search(r"^" + re.escape(name) + r"\{[^}]*\} ([0-9.eE+-]+)$", text, re.M)
        if not m:
            raise ClusterError(f"proxy metric {name} not found")
        return float(m.group(1))


def publish(publisher, service_url, topic, count, pattern, timeout=180, extra=()):
    """Runs pulsarc-interop-publish; returns its per-message JSON results.
    Raises unless every message got a receipt."""
    cmd = [publisher, "--service-url", service_url, "--topic", topic, "-n", str(count),
           "--payload-pattern", pattern, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    bad = [x for x in results if x.get("error")]
    if r.returncode != 0 or len(results) != count or bad:
        raise AssertionError(f"publish via {service_url}: exit {r.returncode}, "
                             f"{len(results)}/{count} results, {len(bad)} errors "
                             f"(first: {bad[0]['error'] if bad else None}); stderr: "
                             f"{r.stderr.strip()[-800:]}")
    return results


def read_all(service_url, topic, expect, timeout_s=120, quiet_ms=3000, client_args=None):
    """Reads topic from the earliest message with the official client until
    `expect` messages arrived (bounded by timeout_s), then waits quiet_ms for
    any extra. Returns the payloads (str) in arrival order. client_args:
    extra pulsar.Client arguments (Cluster.official_args)."""
    import pulsar

    client = pulsar.Client(service_url, operation_timeout_seconds=30,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
                           **(client_args or {}))
    try:
        reader = client.create_reader(topic, pulsar.MessageId.earliest)
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < expect:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            try:
                msg = reader.read_next(timeout_millis=min(left_ms, 5000))
            except pulsar.Timeout:
                continue
            got.append(msg.data().decode())
        if len(got) == expect:
            while True:
                try:
                    msg = reader.read_next(timeout_millis=quiet_ms)
                except pulsar.Timeout:
                    break
                got.append(msg.data().decode())
        reader.close()
        return got
    finally:
        client.close()
