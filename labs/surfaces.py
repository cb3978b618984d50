"""Run one surface on the student's tree, as CI would, and say whether it is green and what it printed.

code, data and model are the pytest surfaces (`make unit`, the snapshot tests of
`make data`, the gate of `make model`), each in a fresh process; service starts
the candidate as labs/release.json deploys it and replays customers at it;
deploy runs the real rollout (nginx shadow, canary, promote) of that candidate
against the model gated on the commit the lab started from.

A green verdict is cached under the hash of the files the surface reads (the
tree outside labs/; the code surface leaves out the snapshot, since it runs on
the start commit's export, and the others leave out .github/ and docs/): re-checking an
unchanged tree, or every solved lab whose fix restores the same code and data,
costs nothing. `--no-cache` runs everything.

A pytest surface is summarised from pytest's JUnit XML, one line per failed
test and one per failed fixture, so a student's report stays one screen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from labs.catalog import Lab, Surface
from labs.contract import check_ids
from labs.edits import RELEASE, SNAPSHOT
from labs.repo import git, show, tree_key
from src import launcher, loopback
from src.processes import free_port, stop, wait_healthy

# A quick check of a lab without code of its own: the feature code every snapshot and request goes through.
QUICK_UNIT = ("tests/unit/test_features.py",)
TAIL_LINES = 12  # one screen: a student reads the reason, `pytest ...` (the command shown) gives the rest
WIDTH = 160
PIPELINE_ENV = ("CHURN_DATA", "ARTIFACT_DIR", "CHURN_SEED", "PROD_METRICS")  # the tree's own defaults, always
HEALTHY_TIMEOUT_S = 60.0  # a candidate that dies fails at once; this bound only catches one that hangs
REPLAY = 200  # customers the service check sends: enough to see a 1 % error rate (P(miss) ~ 0.13)


class LabSettings(BaseSettings):
    """Where a lab check writes and which ports it takes: set them per student on a shared machine."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore", populate_by_name=True)

    cache_dir: Path | None = Field(
        None, alias="LABS_CACHE_DIR", description="verdicts, artifacts, stack files (default: the clone's .git/labs)"
    )
    artifact_dir: Path | None = Field(
        None, alias="ARTIFACT_DIR", description="the checked candidate's pair (default: under the cache)"
    )
    stack_dir: Path | None = Field(
        None, alias="STACK_DIR", description="the deploy check's stack files (default: under the cache)"
    )
    stack_port: int | None = Field(None, alias="STACK_PORT", description="nginx (default: a free port)")
    stable_port: int | None = Field(None, alias="STABLE_PORT", description="stable service (default: free)")
    candidate_port: int | None = Field(None, alias="CANDIDATE_PORT", description="candidate (default: free)")
    prometheus_port: int | None = Field(None, alias="PROMETHEUS_PORT", description="Prometheus (default: free)")


@dataclass(frozen=True)
class Outcome:
    surface: Surface
    passed: bool
    command: str
    seconds: float
    output: str  # the tail a student reads
    cached: bool = False
    key_lines: str = ""  # lines of the whole output naming the lab's hint (a long report may push them out of the tail)


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _cut(line: str, width: int = WIDTH) -> str:
    line = " ".join(line.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _screen(text: str, lines: int = TAIL_LINES) -> str:
    """What a student reads of one surface: the last `lines` lines, none wider than WIDTH."""
    return "\n".join(_cut(line) for line in _tail(text, lines).splitlines())


def _naming(text: str, hint: str, most: int = 2) -> str:
    """The first lines that name `hint`: a red gate fails several checks, and the lab's own may come first."""
    naming = dict.fromkeys(_cut(ln.strip().removeprefix("E ").strip()) for ln in text.splitlines() if hint in ln)
    return "\n".join(list(naming)[:most])


def pytest_summary(junit: Path, raw: str, most: int = 8) -> str:
    """One line per failed test and ONE line per failed fixture, read from pytest's JUnit XML.

    A fixture that fails errors every test that needs it (61 errors for one
    broken gate); the student needs its reason once, not 61 tracebacks. No
    XML (pytest crashed before collecting) falls back to the output's tail.
    """
    try:
        suites = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return _screen(raw, 10)
    failed: list[str] = []
    errors: dict[str, list[str]] = {}
    passed = 0
    for case in suites.iter("testcase"):
        name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        failure, error = case.find("failure"), case.find("error")
        if failure is not None:
            failed.append(f"FAILED {name} - {_first(failure.get('message', ''))}")
        elif error is not None:
            errors.setdefault(_first(error.get("message", "")), []).append(name)
        elif case.find("skipped") is None:
            passed += 1
    lines = [_cut(line) for line in failed[:most]]
    if len(failed) > most:
        lines.append(f"... and {len(failed) - most} more failed tests")
    for reason, names in errors.items():
        who = names[0] if len(names) == 1 else f"({len(names)} tests could not run, a fixture failed)"
        lines.append(_cut(f"ERROR {who} {reason}"))
    n_errors = sum(map(len, errors.values()))
    lines.append(f"{len(failed)} failed, {n_errors} errors, {passed} passed")
    return "\n".join(lines)


def _first(message: str) -> str:
    """The reason of a JUnit message: its first line, without pytest's 'failed on setup with' wrapper."""
    line = message.strip().splitlines()[0] if message.strip() else "(no message)"
    for wrapper in ('failed on setup with "', 'failed on teardown with "', "collection failure"):
        if line.startswith(wrapper):
            line = line.removeprefix(wrapper).rstrip('"') or line
    return line


class Runner:
    """The surfaces of one check, on the tree at `root`, for the lab started from `base`."""

    def __init__(self, root: Path, lab: Lab, base: str, quick: bool = False, use_cache: bool = True) -> None:
        self.root, self.lab, self.base, self.quick, self.use_cache = root, lab, base, quick, use_cache
        self.settings = LabSettings()
        self.cache = self.settings.cache_dir or root / git(root, "rev-parse", "--git-path", "labs")
        self.cache.mkdir(parents=True, exist_ok=True)
        self.key = tree_key(root, exclude=("labs/", ".github/", "docs/"))  # what data, model and live surfaces read
        self.code_key = tree_key(root, exclude=("labs/", SNAPSHOT))  # tests/unit reads the workflows, not the export
        self.artifacts = self.settings.artifact_dir or self.cache / f"artifacts-{self.key}"
        self.env = {k: v for k, v in os.environ.items() if k not in PIPELINE_ENV}
        self.raw = ""  # the last pytest run's whole output

    # --- running -------------------------------------------------------------

    def run(self, surface: Surface) -> Outcome:
        scope = "full"
        if self.quick:  # a quick code surface runs the lab's own files: its verdict is theirs alone
            scope = (
                "quick-" + "-".join(Path(f).stem for f in (self.lab.focus or QUICK_UNIT))
                if surface == "code"
                else "quick"
            )
        # The code surface reads the start commit's export, never the student's: its verdict ignores the snapshot.
        key = f"{self.code_key}-{self.base[:12]}" if surface == "code" else self.key
        cached = self.cache / f"{surface}-{scope}-{key}.json"
        if surface in ("code", "data", "model") and self.use_cache and cached.is_file() and self._reusable(cached):
            return Outcome(**{**json.loads(cached.read_text()), "cached": True})
        started = time.monotonic()
        self.raw = ""
        passed, command, output = getattr(self, f"_{surface}")()
        seconds = round(time.monotonic() - started, 1)
        key_lines = _naming(self.raw + "\n" + output, self.lab.hint)
        outcome = Outcome(surface, passed, command, seconds, _screen(output), key_lines=key_lines)
        if surface in ("code", "data", "model") and outcome.passed:  # a red verdict may be load (the latency check)
            cached.write_text(json.dumps(asdict(outcome)))
        return outcome

    def _reusable(self, cached: Path) -> bool:
        """A green model verdict is reused only while the candidate it gated is still on disk."""
        return (
            "model-" not in cached.name
            or (self.artifacts / "metrics.json").exists()
            or '"passed": false' in (cached.read_text())
        )

    def _pytest(self, targets: tuple[str, ...], env: dict[str, str] | None = None) -> tuple[bool, str, str]:
        with tempfile.TemporaryDirectory() as tmp:
            junit = Path(tmp) / "junit.xml"
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short", *targets]
            result = launcher.run(
                [*argv, f"--junitxml={junit}"], cwd=self.root, env={**self.env, **(env or {})}, timeout=900
            )
            raw = result.stdout + result.stderr
            summary = pytest_summary(junit, raw) if result.returncode != 0 else _tail(raw, 1)
        self.raw = raw  # the whole output: the hint is searched there, the student reads the summary
        return result.returncode == 0, "pytest " + " ".join(targets), summary

    def _code(self) -> tuple[bool, str, str]:
        """tests/unit on the student's code, with the start commit's export as its fixture data.

        The code surface judges code: a broken export is the data surface's to
        catch, so it must not turn a unit test's fixture red first.
        """
        env = {"CHURN_DATA": str(self._traffic())}
        return self._pytest(self.lab.focus or QUICK_UNIT if self.quick else ("tests/unit",), env)

    def _data(self) -> tuple[bool, str, str]:
        return self._pytest(("tests/data/test_snapshot.py",))

    def _model(self) -> tuple[bool, str, str]:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        passed, command, output = self._pytest(("tests/model/test_gate.py",), {"ARTIFACT_DIR": str(self.artifacts)})
        record = self.artifacts / "metrics.json"
        if not record.is_file():
            record = self.artifacts / "rejected" / "metrics.json"
        if record.is_file():
            ran = {c["id"] for c in json.loads(record.read_text()).get("gate", {}).get("checks", [])}
            missing = [c for c in check_ids(show(self.root, self.base, "src/gate/contract.py")) if c not in ran]
            if missing:
                passed = False
                output += (
                    f"\nFAILED gate contract: the gate no longer runs {missing}: every check declared in "
                    f"src/gate/contract.py at {self.base[:8]} must judge the candidate; "
                    "a deleted check lets its failure mode ship\n"
                )
        return passed, command + " + every gate check of the base commit ran", output

    def _release(self) -> dict:
        return json.loads((self.root / RELEASE).read_text())

    def _candidate_model(self) -> Path:
        return self.artifacts / "model_candidate.skops"

    def _service(self) -> tuple[bool, str, str]:
        release = self._release()
        port = self.settings.candidate_port or free_port()
        app = release["candidate_app"]
        env = {**self.env, **release["candidate_env"], "MODEL_PATH": str(self._candidate_model())}
        env["MODEL_VARIANT"] = "candidate"
        command = f"uvicorn {app} on 127.0.0.1:{port}, {REPLAY} customers replayed to /predict"
        argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(argv, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            try:
                return self._replay(proc, port, app, command, log)
            finally:
                stop(proc)

    def _replay(self, proc: subprocess.Popen, port: int, app: str, command: str, log) -> tuple[bool, str, str]:
        from deploy.drivers.traffic import customers  # the tree's own replay: the bodies the rollout sends

        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(f"{url}/health", proc, timeout=HEALTHY_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            log.seek(0)
            return False, command, f"FAILED the candidate ({app}) never became healthy ({exc}):\n{_tail(log.read())}"
        bodies = customers(self.root / SNAPSHOT)[:REPLAY]
        with loopback.client(base_url=url, timeout=10) as client:
            statuses = [client.post("/predict", json=body).status_code for body in bodies]
        errors = sum(s >= 500 for s in statuses)
        if errors:
            return (
                False,
                command,
                (
                    f"FAILED the candidate ({app}) answered HTTP 5xx to {errors} of {len(statuses)} /predict requests "
                    "of customers the stable model scores without error"
                ),
            )
        return True, command, f"the candidate answered all {len(statuses)} requests without a 5xx"

    def _stable_model(self) -> Path:
        """The model gated on the commit the lab started from: what users have now."""
        folder = self.cache / f"stable-{self.base[:12]}"
        if not (folder / "metrics.json").is_file():
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / "base.tar"
                git(self.root, "archive", "-o", str(archive), self.base)
                with tarfile.open(archive) as tar:
                    tar.extractall(Path(tmp) / "tree", filter="data")
                argv = [sys.executable, "-m", "src.gate", "--out", str(folder), "--baseline", str(folder / "none")]
                done = launcher.run(argv, cwd=Path(tmp) / "tree", env=self.env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"the base commit's model did not pass its gate:\n{_tail(done.stdout)}")
        return folder / "model_candidate.skops"

    def _traffic(self) -> Path:
        """The customers as users send them: the base commit's snapshot, whatever the lab did to the export."""
        file = self.cache / f"traffic-{self.base[:12]}.csv"
        if not file.is_file():
            blob = subprocess.run(
                ["git", "show", f"{self.base}:{SNAPSHOT}"], cwd=self.root, capture_output=True, check=True
            ).stdout
            file.write_bytes(blob)
        return file

    def _deploy(self) -> tuple[bool, str, str]:
        release = self._release()
        stable = self._stable_model()
        stack_dir = self.settings.stack_dir or self.cache / "stack"
        prod = self.cache / "prod_metrics.json"
        prod.write_bytes(stable.with_name("metrics.json").read_bytes())
        env = {
            **self.env,
            "STACK_PORT": str(self.settings.stack_port or free_port()),
            "STABLE_PORT": str(self.settings.stable_port or free_port()),
            "CANDIDATE_PORT": str(self.settings.candidate_port or free_port()),
            "PROMETHEUS_PORT": str(self.settings.prometheus_port or free_port()),
            "STACK_DIR": str(stack_dir),
            "PROD_METRICS": str(prod),
            "CANDIDATE_APP": release["candidate_app"],
            "CANDIDATE_ENV": json.dumps(release["candidate_env"]),
            "ROLLOUT_WINDOW_REQUESTS": "150",
            "ROLLOUT_MIN_REQUESTS": "40",
            "ROLLOUT_INCONCLUSIVE_RETRIES": "1",
            "ROLLOUT_INCONCLUSIVE_WAIT_S": "0.5",
            "ROLLOUT_GATE_DATA": str(self.root / SNAPSHOT),  # the export the candidate was gated on
        }
        if self.quick:
            env["ROLLOUT_STEPS"] = "100"
        argv = [sys.executable, "-m", "deploy.rollout", "--stable", str(stable)]
        argv += ["--candidate", str(self._candidate_model()), "--data", str(self._traffic())]
        try:
            done = launcher.run(argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=600)
        finally:
            if (stack_dir / "state.json").exists():
                down = [sys.executable, "-m", "deploy.stack", "down"]
                launcher.run(down, cwd=self.root, env=env, capture_output=True, text=True, timeout=120)
        steps = "shadow -> canary 100%" if self.quick else "shadow -> canary steps"
        output = done.stdout + done.stderr
        return done.returncode == 0, f"rollout {steps} -> promote, against the base commit's model", output
