"""The rollout checks PromQL cannot express, for a cluster: a Job (Argo) or a webhook (Flagger).

    python -m deploy.release_checks gate-record|ratchet|shadow --stable URL --candidate URL [...]
    python -m deploy.release_checks serve --stable URL --candidate URL [...]   # POST /<check>

- gate-record: the candidate answers /health with a model sha256 and holdout
  AUC, and scores the contract's example customer. The service loads its
  model only through src.artifacts.load_model (the boundary the rollout and
  the registry use) and refuses an artifact without a passed gate record at
  startup (REQUIRE_GATE=true), so an answer is the gate's and the loader's word.
- ratchet: candidate holdout AUC >= stable's - tolerance; stable is what
  users have now, the cluster's prod_metrics.json.
- shadow: the same customers sent to both variants; the PSI of the
  candidate's scores against stable's must stay <= psi_max (train/serve skew).
  PromQL cannot do this: it needs both scores of each request side by side.

Exit 0 passes, 1 fails (one line saying why), 2 bad input. `serve` answers
200 or 412 with the same line; Flagger treats non-2xx as a failed webhook.
Standard library HTTP only: the service image carries no HTTP client.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from deploy.rules.analysis import probability_psi
from deploy.settings import ReleaseChecksSettings
from src import exits, schema
from src.gate import contract as gate
from src.make_dataset import generate

CHECKS = ("gate-record", "ratchet", "shadow")


def _get(url: str, timeout: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def gate_record(args: argparse.Namespace) -> tuple[bool, str]:
    health = _get(f"{args.candidate}/health")
    p = _post(f"{args.candidate}/predict", schema.EXAMPLE_CUSTOMER).get("churn_probability")
    scores = isinstance(p, float) and 0.0 <= p <= 1.0
    ok = bool(health.get("model_sha256")) and health.get("holdout_auc") is not None and scores
    return ok, (
        f"candidate serves model {str(health.get('model_sha256'))[:12]} (AUC {health.get('holdout_auc')}), "
        f"example customer {'scored ' + format(p, '.4f') if scores else 'not scored: ' + repr(p)}"
    )


def ratchet(args: argparse.Namespace) -> tuple[bool, str]:
    stable, candidate = _get(f"{args.stable}/health")["holdout_auc"], _get(f"{args.candidate}/health")["holdout_auc"]
    ok = gate.ratchet_allows(candidate, stable, args.tolerance)
    return ok, f"candidate AUC {candidate} {'>=' if ok else '<'} stable {stable} - {args.tolerance}"


def _bodies(n: int) -> list[dict[str, Any]]:
    """Seeded synthetic customers as the data contract's request bodies: identical for both variants."""
    return [schema.request_body(row) for row in generate(seed=1, n=n).to_dict("records")]


def shadow(args: argparse.Namespace) -> tuple[bool, str]:
    bodies = _bodies(args.customers)
    scores = {
        v: [_post(f"{url}/predict", b)["churn_probability"] for b in bodies]
        for v, url in (("stable", args.stable), ("candidate", args.candidate))
    }
    value = probability_psi(scores["stable"], scores["candidate"])
    ok = value <= args.psi_max
    return ok, f"score PSI {value:.3f} {'<=' if ok else '>'} {args.psi_max} on {len(bodies)} identical requests"


RUN = {"gate-record": gate_record, "ratchet": ratchet, "shadow": shadow}


def run_check(name: str, args: argparse.Namespace) -> tuple[bool, str]:
    try:
        return RUN[name](args)
    except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
        return False, f"{name}: could not measure ({exc})"


def serve(args: argparse.Namespace) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200 if self.path == "/healthz" else 404, "ok" if self.path == "/healthz" else "not found")

        def do_POST(self) -> None:
            name = self.path.strip("/")
            if name not in RUN:
                self._answer(404, f"no check {name!r}; one of {', '.join(CHECKS)}")
                return
            ok, why = run_check(name, args)
            self._answer(200 if ok else 412, why)

        def _answer(self, status: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer((ReleaseChecksSettings().host, args.port), Handler).serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Release checks for a cluster rollout (Job or webhook).")
    parser.add_argument("check", choices=[*CHECKS, "serve"])
    parser.add_argument("--stable", required=True, help="base URL of the stable service")
    parser.add_argument("--candidate", required=True, help="base URL of the candidate service")
    parser.add_argument("--tolerance", type=float, default=0.02, help="ratchet: allowed AUC drop")
    parser.add_argument("--psi-max", type=float, default=0.1, help="shadow: largest allowed score PSI")
    parser.add_argument("--customers", type=int, default=300, help="shadow: identical requests per variant")
    parser.add_argument("--port", type=int, default=8000, help="serve: listen port")
    args = parser.parse_args(argv)
    if args.check == "serve":
        serve(args)
        return exits.OK
    ok, why = run_check(args.check, args)
    print(f"{args.check}: {'pass' if ok else 'fail'}: {why}", file=sys.stdout if ok else sys.stderr)
    return exits.OK if ok else exits.NO


if __name__ == "__main__":
    sys.exit(main())
