"""What the interop suites share: the case failure type, check(), and the
loop that runs named cases against one broker, printing "PASS name (Ns)" or
"FAIL name: why (Ns)" per case, then "total Ns" and "N passed, M failed".

A suite object provides start_broker() and stop_broker(keep). The runner
returns the exit status: 0 only if at least one case ran and none failed.
start_real_broker() is the suites' one way to start
tools/real-broker/pulsar-broker.sh and read what it wrote.
"""
import argparse
import os
import signal
import subprocess
import time


def start_real_broker(broker_sh, directory, env):
    """Starts the real broker in directory with env (PULSAR_CONF_EXTRA and
    the like); returns (its env file as a dict, seconds the start took)."""
    t0 = time.monotonic()
    subprocess.run([broker_sh, "start", directory], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(directory, "env")) as f:
        found = dict(line.strip().split("=", 1) for line in f if "=" in line)
    return found, time.monotonic() - t0


class CaseFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CaseFailure(msg)


def run_cases(suite, cases, only, keep):
    # ctest's timeout sends SIGTERM: turn it into an exception so the
    # finally block still stops the broker.
    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    t0 = time.monotonic()
    passed = failed = 0
    try:
        suite.start_broker()
        for name, fn in cases:
            if only and name not in only:
                continue
            c0 = time.monotonic()
            try:
                fn(suite)
            except CaseFailure as e:
                failed += 1
                print(f"FAIL {name}: {e} ({time.monotonic() - c0:.1f}s)", flush=True)
            except Exception as e:  # a harness error fails the case, not the suite
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e} ({time.monotonic() - c0:.1f}s)",
                      flush=True)
            else:
                passed += 1
                print(f"PASS {name} ({time.monotonic() - c0:.1f}s)", flush=True)
    except BaseException as e:  # broker start failed or interrupted
        failed += 1
        print(f"FAIL suite: {type(e).__name__}: {e}", flush=True)
    finally:
        suite.stop_broker(keep=keep or failed > 0)
    print(f"total {time.monotonic() - t0:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def suite_main(doc, suite_cls, cases):
    """The command line of a suite that needs only the publisher: --publisher,
    --root, --only, --keep; runs the cases and returns the exit status."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", required=True)
    ap.add_argument("--root", default=os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.publisher = os.path.abspath(a.publisher)
    only = {c for c in a.only.split(",") if c}
    unknown = only - {name for name, _ in cases}
    if unknown:
        ap.error(f"unknown case(s): {sorted(unknown)}")
    return run_cases(suite_cls(a), cases, only, a.keep)
