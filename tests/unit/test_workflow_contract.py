"""The CI workflows' contract: what must never regress in .github/workflows/.

No GitHub runner checks a workflow before it is merged, and a broken one fails
only after the push, or worse, quietly ships a model the gate never saw. These
tests read the YAML and name the mistake, so it is caught by `make unit`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from src import artifacts
from src.config import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
CONTINUOUS_TRAINING = WORKFLOWS / "continuous-training.yml"
GATES_IN_ORDER = ["lint", "unit", "data", "model"]
SURFACE_JOB = "surface"  # the expensive surfaces, one matrix job each, after the gates
ARTIFACT_FILES = {artifacts.MODEL_FILE, artifacts.METRICS_FILE}


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True; put it back.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def all_workflows() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def make_target(run: str) -> str | None:
    """`make [-flags] TARGET ...` -> TARGET; anything else -> None."""
    words = shlex.split(run.strip(), comments=True) if "\n" not in run.strip() else []
    if not words or words[0] != "make":
        return None
    rest = [w for w in words[1:] if not w.startswith("-")]
    return rest[0] if rest else None


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", (ROOT / "Makefile").read_text(), re.MULTILINE))


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


GATED_ARTIFACT = "gated-model"  # the pair the image ships; the model card travels beside it, as model-card


def gated_upload(gates: dict[str, Any]) -> dict[str, Any]:
    [upload] = [s for s in steps_using(gates, "actions/upload-artifact") if s["with"]["name"] == GATED_ARTIFACT]
    return upload


def condition(step_or_job: dict[str, Any]) -> str:
    return " ".join(str(step_or_job.get("if", "")).split())


def dockerfile_copy_sources(text: str) -> set[str]:
    """Build-context files named by COPY/ADD lines (flags like --chown dropped)."""
    sources: set[str] = set()
    for line in text.replace("\\\n", " ").splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            paths = [w for w in words[1:] if not w.startswith("--")]
            sources.update(paths[:-1])
    return sources


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return load(CI)


@pytest.fixture(scope="module")
def gates(ci: dict[str, Any]) -> dict[str, Any]:
    return ci["jobs"]["gates"]


@pytest.fixture(scope="module")
def build_push(ci: dict[str, Any]) -> dict[str, Any]:
    return ci["jobs"]["build-push"]


def test_ci_runs_on_every_push_to_main_every_pr_and_by_hand(ci: dict[str, Any]) -> None:
    triggers = ci["on"]
    assert triggers["push"]["branches"] == ["main"], "pushes to main must run CI: that is what ships"
    assert "pull_request" in triggers, "PRs must run the gates: a red PR is the cheapest place to stop a bad model"
    assert "workflow_dispatch" in triggers, "without workflow_dispatch nobody can re-run CI by hand"
    group = ci["concurrency"]["group"]
    assert "github.ref" in group, f"concurrency group {group!r} must be per ref, or one PR cancels another's run"


def test_build_push_waits_for_the_gates(build_push: dict[str, Any]) -> None:
    needs = build_push.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    assert "gates" in needs, "build-push must `needs: gates`, or it builds in parallel with a gate that may fail"


def test_build_push_runs_only_for_pushes_to_main(build_push: dict[str, Any]) -> None:
    cond = condition(build_push).replace('"', "'")
    assert "github.ref == 'refs/heads/main'" in cond, (
        f"build-push `if: {cond}` must check github.ref == 'refs/heads/main': a PR branch would publish :latest"
    )
    assert "github.event_name == 'push'" in cond, (
        f"build-push `if: {cond}` must check github.event_name == 'push': PRs are tested, never shipped"
    )
    assert "||" not in cond, f"build-push `if: {cond}` must AND its conditions; an `||` lets a PR through"


def test_gates_run_cheapest_first_lint_unit_data_model(gates: dict[str, Any]) -> None:
    targets = [make_target(s["run"]) for s in gates["steps"] if "run" in s]
    order = [t for t in targets if t in GATES_IN_ORDER]
    assert order == GATES_IN_ORDER, (
        f"gates run {order}; they must run {GATES_IN_ORDER} so a 15-second lint failure never pays for training"
    )


def _expensive_surfaces() -> list[str]:
    """make test's surfaces after the gate (Makefile SURFACES), the ones CI runs side by side."""
    surfaces = re.search(r"^SURFACES := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1).split()
    return surfaces[surfaces.index("model") + 1 :]


def test_every_surface_after_the_gate_runs_in_its_own_job_once_the_gates_passed(ci: dict[str, Any]) -> None:
    job = ci["jobs"][SURFACE_JOB]
    assert job.get("needs") in ("gates", ["gates"]), "the surface jobs must `needs: gates`: no server before the gate"
    matrix = job["strategy"]["matrix"]["surface"]
    assert sorted(matrix) == sorted(_expensive_surfaces()), (
        f"CI runs {sorted(matrix)} after the gate; make test runs {sorted(_expensive_surfaces())}: "
        "a surface CI skips is one a fork's pull request never checks"
    )
    assert job["strategy"].get("fail-fast") is False, "one red surface must not cancel the others' verdicts"
    [step] = [s for s in job["steps"] if "run" in s and "SURFACE" in s["run"]]
    assert make_target(step["run"]) == "$SURFACE", 'the surface step must be `make "$SURFACE"`, nothing else'
    assert step["env"]["SURFACE"] == "${{ matrix.surface }}", "the matrix value reaches make through env:"
    for other in (s for s in job["steps"] if "run" in s and s is not step):
        assert make_target(other["run"]) == "venv", (
            f"the surface job runs {other['run']!r}; only make venv + the surface"
        )


def test_the_surface_jobs_reuse_the_gated_pair_and_the_gates_venv(ci: dict[str, Any], gates: dict[str, Any]) -> None:
    job = ci["jobs"][SURFACE_JOB]
    [download] = steps_using(job, "actions/download-artifact")
    assert download["with"]["name"] == GATED_ARTIFACT, "the surfaces must test the pair the gate judged"
    [saved] = steps_using(gates, "actions/cache")
    [restored] = steps_using(job, "actions/cache/restore")
    assert restored["with"] == saved["with"], "the surface jobs must restore exactly the venv the gates job saved"


def test_build_push_waits_for_every_surface(build_push: dict[str, Any]) -> None:
    needs = build_push.get("needs", [])
    assert SURFACE_JOB in ([needs] if isinstance(needs, str) else needs), (
        "build-push must also `needs: surface`, or an image ships while its deploy tests are still red"
    )


def test_every_gates_run_step_is_a_make_target_a_developer_can_run(gates: dict[str, Any]) -> None:
    targets = makefile_targets()
    for step in (s for s in gates["steps"] if "run" in s):
        target = make_target(step["run"])
        assert target is not None, (
            f"step {step.get('name')!r} runs {step['run']!r}: put it behind a make target, "
            "or CI runs a gate no developer can run locally"
        )
        assert target in targets, f"step {step.get('name')!r} calls `make {target}`, which the Makefile does not define"


def test_the_gate_table_is_published_even_when_the_gate_fails(gates: dict[str, Any]) -> None:
    summary = [s for s in gates["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert summary, "no step writes $GITHUB_STEP_SUMMARY: reviewers would have to dig the metrics out of logs"
    step = summary[-1]
    assert condition(step) == "always()", "the summary step needs `if: always()`, or a failed gate shows no table"
    assert make_target(step["run"]) == "report", "the summary must come from `make report`, the table `make run` shows"
    assert gates["steps"][-1] is step, "the summary must be the last step, so it reports on every gate before it"


def test_only_a_passed_gate_is_uploaded(gates: dict[str, Any]) -> None:
    steps = gates["steps"]
    upload = gated_upload(gates)
    model_step = next(i for i, s in enumerate(steps) if make_target(s.get("run", "")) == "model")
    assert steps.index(upload) > model_step, "the artifact is uploaded before the model gate has judged it"
    assert condition(upload) in ("", "success()"), (
        f"upload `if: {condition(upload)}` would upload a model that failed its gate as 'gated-model'"
    )


def test_the_model_card_is_drawn_after_the_gate_and_uploaded_only_with_a_passed_pair(gates: dict[str, Any]) -> None:
    steps = gates["steps"]
    uploads = steps_using(gates, "actions/upload-artifact")
    names = sorted(s["with"]["name"] for s in uploads)
    assert names == sorted([GATED_ARTIFACT, "model-card"]), f"the gates job uploads {names}: the pair and its card"
    [card] = [s for s in uploads if s["with"]["name"] == "model-card"]
    [draw] = [s for s in steps if make_target(s.get("run", "")) == "report-html"]
    model_step = next(i for i, s in enumerate(steps) if make_target(s.get("run", "")) == "model")
    assert model_step < steps.index(draw) < steps.index(card), "the card is drawn after the gate, then uploaded"
    assert card["with"]["path"].strip() == "reports/model-card.html", "upload the page `make report-html` writes"
    for step in (draw, card):
        assert condition(step) in ("", "success()"), "a card uploaded after a failed gate sits beside no gated pair"


def test_the_uploaded_artifact_is_the_one_build_push_downloads(
    gates: dict[str, Any], build_push: dict[str, Any]
) -> None:
    upload = gated_upload(gates)
    [download] = steps_using(build_push, "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"], (
        f"gates upload {upload['with']['name']!r} but build-push downloads {download['with']['name']!r}: "
        "the image would be built without the gated model"
    )
    uploaded = set(upload["with"]["path"].split())
    assert uploaded == ARTIFACT_FILES, f"the artifact carries {sorted(uploaded)}; it must be {sorted(ARTIFACT_FILES)}"


def _model_steps(gates: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in gates["steps"] if make_target(s.get("run", "")) == "model"]


def test_ci_can_gate_a_registered_model_instead_of_retraining_by_one_input(ci: dict[str, Any]) -> None:
    inputs = (ci["on"]["workflow_dispatch"] or {}).get("inputs", {})
    assert list(inputs) == ["model_uri"], f"the choice is one input, model_uri; found {list(inputs)}"
    uri = inputs["model_uri"]
    assert uri.get("type") == "string", "model_uri must be a string input (a models:/ URI)"
    assert not uri.get("required"), "model_uri must be optional: push and PR runs have no inputs"
    assert uri.get("default", "") == "", "the default must be empty: retraining on the runner is the default"


def test_both_provenances_go_through_the_one_model_gate_step(gates: dict[str, Any]) -> None:
    [step] = _model_steps(gates)  # two model steps could let the unjudged one feed the upload
    assert condition(step) in ("", "success()"), f"the model gate step must always run, not `if: {condition(step)}`"
    assert "${{" not in step["run"], "an input expanded inside run: is template injection; pass it through env:"
    assert step.get("env", {}).get("MODEL_URI") == "${{ inputs.model_uri }}", (
        "the model step must read the dispatch input through env MODEL_URI"
    )
    words = shlex.split(step["run"])
    assert words[2:] == ["MODEL=$MODEL_URI"], f'the model step must be `make model MODEL="$MODEL_URI"`: {words}'
    for moved in ("ARTIFACT_DIR", "--out"):
        assert moved not in f"{step['run']} {' '.join(step.get('env', {}))}", (
            f"the model step sets {moved}: the gate would write the pair somewhere the upload does not read"
        )


def test_the_make_target_judges_a_given_model_into_the_uploaded_pair() -> None:
    recipe = re.search(r"^model:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no model target"
    body = recipe.group(1)
    assert "src.gate --model" in body, "make model MODEL=... must run src.gate --model (the same checks, one path)"
    assert "--out" not in body, "make model MODEL=... must write the gated pair where the gates job uploads it from"


def test_build_push_ships_the_gated_model_and_never_retrains(build_push: dict[str, Any]) -> None:
    runs = " ".join(s.get("run", "") for s in build_push["steps"])
    for forbidden in ("make model", "make train", "src.train", "pytest"):
        assert forbidden not in runs, f"build-push runs {forbidden!r}: the image must hold the model the gate passed"


def test_the_dockerfile_copies_exactly_the_files_the_artifact_carries(gates: dict[str, Any]) -> None:
    dockerfile = ROOT / "Dockerfile"
    assert dockerfile.is_file(), "no Dockerfile: build-push has nothing to build the gated artifact into"
    upload = gated_upload(gates)
    uploaded = set(upload["with"]["path"].split())
    sources = dockerfile_copy_sources(dockerfile.read_text())
    copied = {s for s in sources if s in uploaded or s.endswith(".skops") or Path(s).name == artifacts.METRICS_FILE}
    assert copied == uploaded, (
        f"the Dockerfile COPYs {sorted(copied)} but the artifact carries {sorted(uploaded)}: "
        "an image built from a file the gate never saw, or a missing file at build time"
    )


def test_no_job_but_build_push_can_write_packages() -> None:
    for path in all_workflows():
        doc = load(path)
        top = doc.get("permissions")
        for name, job in doc["jobs"].items():
            perms = job.get("permissions", top)
            writes_packages = perms in ("write-all",) or (isinstance(perms, dict) and perms.get("packages") == "write")
            if (path, name) == (CI, "build-push"):
                assert writes_packages, "build-push needs `packages: write` to push to GHCR"
            else:
                assert not writes_packages, f"{path.name}: job {name!r} can write packages; only build-push may"


def test_build_push_asks_for_exactly_what_pushing_and_attesting_need(build_push: dict[str, Any]) -> None:
    wanted = {"contents": "read", "packages": "write", "id-token": "write", "attestations": "write"}
    assert build_push["permissions"] == wanted, (
        f"build-push permissions {build_push['permissions']}; push + attest need exactly {wanted}"
    )


def test_the_image_is_tested_in_a_container_before_it_is_pushed(build_push: dict[str, Any]) -> None:
    steps = build_push["steps"]
    runs = [s.get("run", "") for s in steps]
    build = next(i for i, r in enumerate(runs) if "docker build" in r)
    push = next(i for i, r in enumerate(runs) if "docker push" in r)
    tests = [i for i, s in enumerate(steps) if make_target(s.get("run", "")) == "container"]
    assert tests, "build-push never runs `make container`: the image is pushed untested"
    assert build < tests[0] < push, "`make container` must run between docker build and docker push"
    assert "CONTAINER_IMAGE" in steps[tests[0]].get("env", {}), (
        "make container without CONTAINER_IMAGE builds and tests another image than the one pushed"
    )


def test_the_pushed_image_and_the_model_are_attested_with_the_gate_record(build_push: dict[str, Any]) -> None:
    steps = build_push["steps"]
    attests = steps_using(build_push, "actions/attest")
    push = next(i for i, s in enumerate(steps) if "docker push" in s.get("run", ""))
    assert all(steps.index(a) > push for a in attests), "an attestation before the push names no registry digest"
    subjects = {a["with"].get("subject-path") or a["with"].get("subject-name") for a in attests}
    assert artifacts.MODEL_FILE in subjects, "the model file is not attested"
    assert any("subject-digest" in a["with"] for a in attests), "the pushed image digest is not attested"
    for attest in attests:
        assert attest["with"].get("predicate-path") == artifacts.METRICS_FILE, (
            f"attestation {attest.get('name')!r} must carry the gate record {artifacts.METRICS_FILE} as its predicate"
        )


# Pins, checkout credentials and workflow permissions are zizmor's (make lint);
# the version comment beside a pin is ours, for the reviewer reading the diff.
def test_every_action_pin_names_its_version_in_a_comment() -> None:
    for path in all_workflows():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1).startswith(("./", "docker://")):
                continue
            assert re.search(r"#\s*v?\d", match.group(2)), (
                f"{path.name}:{lineno}: add the version as a comment (`# v1.2.3`) so a reviewer can read the pin"
            )


def test_every_job_has_a_timeout() -> None:
    for path in all_workflows():
        for name, job in load(path)["jobs"].items():
            assert "timeout-minutes" in job, f"{path.name}: job {name!r} has no timeout-minutes; a hang burns 6 hours"


def test_continuous_training_reruns_data_and_gate_weekly_and_can_change_nothing() -> None:
    doc = load(CONTINUOUS_TRAINING)
    assert doc["on"]["schedule"][0]["cron"], "continuous training needs a schedule"
    assert "workflow_dispatch" in doc["on"], "continuous training must be runnable by hand"
    [job] = doc["jobs"].values()
    targets = [make_target(s["run"]) for s in job["steps"] if "run" in s]
    gates = [t for t in targets if t in ("data", "model")]
    assert gates == ["data", "model"], f"continuous training runs {gates}; it must run make data, then make model"
    assert "permissions" not in job, (
        "continuous training must stay read-only (the workflow's `contents: read`): "
        "it reports a regression, it never opens, pushes or publishes"
    )
    assert any(condition(s) == "always()" and "GITHUB_STEP_SUMMARY" in s.get("run", "") for s in job["steps"]), (
        "continuous training must publish the gate table even when it fails, so the regression is readable"
    )


# --- drift that acts: drift.yml may start training, never ship ----------------

DRIFT = WORKFLOWS / "drift.yml"
# What shipping or promoting looks like in a run step: none may appear where drift's dispatch can reach.
SHIPPING = ("git push", "docker", "ghcr.io", "make rollout", "deploy.rollout", "deploy.stack", "stack-up", "promote")
SHIPPING += ("prod_metrics", "gh release", "gh pr", "gh api -X", "gh api --method", "upload-artifact")


@pytest.fixture(scope="module")
def drift_wf() -> dict[str, Any]:
    return load(DRIFT)


def run_text(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_drift_runs_daily_and_by_hand(drift_wf: dict[str, Any]) -> None:
    assert drift_wf["on"]["schedule"][0]["cron"], "the drift check needs a schedule: nobody remembers to run it"
    assert "workflow_dispatch" in drift_wf["on"], "the drift check must be runnable by hand"


def test_only_the_drift_dispatch_can_start_a_workflow_and_no_job_can_write_contents() -> None:
    for path in all_workflows():
        doc = load(path)
        for name, job in doc["jobs"].items():
            perms = job.get("permissions", doc.get("permissions"))
            assert perms != "write-all", f"{path.name}: job {name!r} has write-all"
            perms = perms or {}
            assert perms.get("contents") != "write", f"{path.name}: job {name!r} can push commits (contents: write)"
            if (path, name) != (CI, "build-push"):  # build-push signs its attestation with an OIDC token
                assert perms.get("id-token") != "write", f"{path.name}: job {name!r} can mint cloud credentials"
            if (path, name) == (DRIFT, "dispatch-training"):
                assert perms == {"actions": "write"}, f"the dispatch needs `actions: write` and nothing else: {perms}"
            else:
                assert perms.get("actions") != "write", (
                    f"{path.name}: job {name!r} has actions: write; only drift's dispatch-training may start workflows"
                )


def test_a_green_drift_check_dispatches_nothing(drift_wf: dict[str, Any]) -> None:
    dispatch = drift_wf["jobs"]["dispatch-training"]
    assert dispatch["needs"] in ("check", ["check"]), "the dispatch must wait for the check's verdict"
    assert condition(dispatch).replace('"', "'") == "needs.check.outputs.status == 'retrain'", (
        f"dispatch `if: {condition(dispatch)}`: only a retrain verdict (exit 1, its report saying so) may start"
    )
    check = drift_wf["jobs"]["check"]
    assert check["outputs"]["status"] == "${{ steps.judge.outputs.status }}"
    # Which exit code sets which status is run for real in tests/service/test_drift_workflow.py.


def test_the_dispatch_only_starts_continuous_training_with_the_reason(drift_wf: dict[str, Any]) -> None:
    dispatch = drift_wf["jobs"]["dispatch-training"]
    assert not [s for s in dispatch["steps"] if "uses" in s], (
        "the dispatch job runs no action (no checkout: nothing to push from, no code of ours with the token)"
    )
    runs = run_text(dispatch)
    commands = [line.split() for line in runs.splitlines() if line.strip().startswith("gh ")]
    assert [c[:4] for c in commands] == [["gh", "workflow", "run", CONTINUOUS_TRAINING.name]], (
        f"the dispatch may only run `gh workflow run {CONTINUOUS_TRAINING.name}`, found: {commands}"
    )
    assert "-f reason=" in runs, "the dispatch must pass the drift reason to continuous training"
    assert "${{" not in runs, "expressions in run: are template injection; pass the reason through env:"
    for word in SHIPPING:
        assert word not in runs, f"the dispatch job runs {word!r}: drift may start training, never ship"


def test_continuous_training_accepts_the_drift_dispatch_with_a_reason() -> None:
    dispatch = load(CONTINUOUS_TRAINING)["on"]["workflow_dispatch"]
    reason = (dispatch or {}).get("inputs", {}).get("reason")
    assert reason is not None, "continuous-training.yml must take a `reason` input, or drift's dispatch fails (422)"
    assert reason.get("type") == "string"
    assert not reason.get("required"), "a hand-started or scheduled run has no reason: the input must be optional"


def test_the_dispatched_workflow_never_builds_or_deploys() -> None:
    doc = load(CONTINUOUS_TRAINING)
    for name, job in doc["jobs"].items():
        runs = run_text(job)
        for word in SHIPPING:
            assert word not in runs, f"continuous-training job {name!r} runs {word!r}: a retrain signal must not ship"
        uses = [str(s["uses"]).split("@")[0] for s in job["steps"] if "uses" in s]
        assert set(uses) <= {"actions/checkout", "actions/setup-python"}, (
            f"continuous-training job {name!r} uses {uses}: anything beyond checkout and Python could build or upload"
        )
        assert "${{" not in runs, f"continuous-training job {name!r}: an expression inside run: is template injection"


def test_drift_judges_the_log_with_the_cli_and_fails_when_it_cannot(drift_wf: dict[str, Any]) -> None:
    judge = next(s for s in drift_wf["jobs"]["check"]["steps"] if s.get("id") == "judge")
    assert "python -m src.drift --log" in judge["run"], "the schedule must run the same CLI a developer runs"
    assert "${{" not in run_text(drift_wf["jobs"]["check"]), "expressions in run: are template injection; use env:"
