"""One judge of a stage for the local stack and for compose, and compose's checks before Docker acts.

deploy/rules/stages.py's stage() judges MODE and CANARY_PERCENT for `make stack-set`
and `make compose-set`; nginx/render-stage.sh applies the same rules inside
the compose nginx container (which has no Python). These tests hold the two
to the same verdict on every input, so they cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.drivers import compose, nginx
from src import artifacts
from src.config import ROOT

SCRIPT = ROOT / "nginx" / "render-stage.sh"
CASES = [
    ("stable", "5"),
    ("shadow", "5"),
    ("canary", "25"),
    ("canary", "100"),
    ("canary", "0"),
    ("canary", "101"),
    ("canary", "-1"),
    ("canary", "x"),
    ("canary", "2.5"),
    ("canery", "5"),
    ("00-common", "5"),
    ("Canary", "5"),
]


def python_verdict(mode: str, percent: str) -> str:
    try:
        return nginx.stage(mode, percent)[0]
    except ValueError:
        return "refused"


def shell_verdict(mode: str, percent: str, conf_dir: Path) -> str:
    env = {**os.environ, "NGINX_CONF_DIR": str(conf_dir), "NGINX_MODE": mode, "CANARY_PERCENT": percent}
    result = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        assert len(result.stderr.strip().splitlines()) == 1, f"render-stage.sh refused in more than one line: {result}"
        return "refused"
    return str(nginx.read_stage(conf_dir / "stage")["mode"])


def stage_files(folder: Path) -> dict[str, str]:
    """Every file of a stage folder and its text: what nginx reads per request."""
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(("mode", "percent"), CASES)
def test_the_local_stack_and_the_compose_nginx_judge_a_stage_alike(mode: str, percent: str, tmp_path: Path) -> None:
    assert shell_verdict(mode, percent, tmp_path) == python_verdict(mode, percent), (
        f"MODE={mode!r} CANARY_PERCENT={percent!r}: render-stage.sh and deploy.rules.stages.stage() disagree"
    )


@pytest.mark.parametrize(
    ("mode", "percent"), [c for c in CASES if python_verdict(*c) != "refused"] + [("canary", "07")]
)
def test_render_stage_writes_the_stage_files_write_stage_writes(mode: str, percent: str, tmp_path: Path) -> None:
    env = {**os.environ, "NGINX_CONF_DIR": str(tmp_path / "sh"), "NGINX_MODE": mode, "CANARY_PERCENT": percent}
    subprocess.run(["sh", str(SCRIPT)], env=env, check=True, capture_output=True)
    nginx.write_stage(tmp_path / "py", mode, percent)
    assert stage_files(tmp_path / "sh" / "stage") == stage_files(tmp_path / "py"), (
        f"MODE={mode} CANARY_PERCENT={percent}: compose's nginx would route differently from the local stack's"
    )
    expected = {"mode": nginx.stage(mode, percent)[0]}
    if expected["mode"] == "canary":
        expected["candidate_percent"] = int(percent)
    assert nginx.read_stage(tmp_path / "py") == expected
    assert json.loads((tmp_path / "py" / "stage.json").read_text()) == expected, "/stage would misreport the stage"


def test_render_stage_renders_the_templates_deploy_nginx_renders(tmp_path: Path) -> None:
    env = {**os.environ, "NGINX_CONF_DIR": str(tmp_path), "NGINX_MODE": "canary", "CANARY_PERCENT": "30"}
    env.update({name: f"value-of-{name}" for name in nginx.template_variables() if name != "STAGE_DIR"})
    subprocess.run(["sh", str(SCRIPT)], env=env, check=True, capture_output=True)
    values = {**env, "STAGE_DIR": str(tmp_path / "stage")}
    nginx.render(values, tmp_path / "py")
    for name in nginx.TEMPLATE_FILES:
        assert (tmp_path / f"{name}.conf").read_text() == (tmp_path / "py" / f"{name}.conf").read_text(), (
            f"render-stage.sh and deploy/drivers/nginx.py render {name}.conf differently"
        )


SEQUENCE = (("canary", 25), ("canary", 50), ("canary", 10), ("shadow", 5), ("canary", 30), ("stable", 0))


def test_every_stage_switch_takes_effect_in_one_file_operation(tmp_path: Path) -> None:
    """After each file operation of a switch nginx routes by the old stage or the new, never a half-written share."""
    folder = tmp_path / "stage"
    seen: list[dict[str, object]] = []
    touch, unlink = Path.touch, Path.unlink

    def record_after(op: Callable[..., None]) -> Callable[..., None]:
        def wrapped(self: Path, *args: object, **kwargs: object) -> None:
            op(self, *args, **kwargs)
            if self.parent == folder:
                seen.append(nginx.read_stage(folder))

        return wrapped

    nginx.write_stage(folder, "shadow", 5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "touch", record_after(touch))
        patch.setattr(Path, "unlink", record_after(unlink))
        for mode, percent in SEQUENCE:
            before = nginx.read_stage(folder)
            seen.clear()
            nginx.write_stage(folder, mode, percent)
            after = nginx.read_stage(folder)
            assert seen, "the switch made no file operation in the stage folder: nothing was observed"
            wanted = {"mode": nginx.stage(mode, percent)[0]}
            if mode == "canary":
                wanted["candidate_percent"] = percent
            assert after == wanted, f"switching to {mode} {percent} left {after}"
            strays = [step for step in seen if step not in (before, after)]
            assert not strays, f"{before} -> {after} routed requests by {strays[0]} on the way"
            first_new = next(i for i, step in enumerate(seen) if step == after)
            assert all(step == after for step in seen[first_new:]), f"{before} -> {after} flipped back and forth"


def test_render_stage_and_write_stage_agree_over_a_sequence_of_switches(tmp_path: Path) -> None:
    """The two bucket sets alternate; both writers must alternate them alike, switch after switch."""
    for mode, percent in SEQUENCE:
        env = {**os.environ, "NGINX_CONF_DIR": str(tmp_path / "sh"), "NGINX_MODE": mode, "CANARY_PERCENT": str(percent)}
        (tmp_path / "sh" / "churn-stage.env").unlink(missing_ok=True)  # else a start keeps the stage last set
        subprocess.run(["sh", str(SCRIPT)], env=env, check=True, capture_output=True)
        nginx.write_stage(tmp_path / "py", mode, percent)
        assert stage_files(tmp_path / "sh" / "stage") == stage_files(tmp_path / "py"), (
            f"after switching to {mode} {percent}, compose's nginx and the local stack's hold different stage files"
        )


def test_a_canary_at_0_percent_is_the_stable_stage_for_both() -> None:
    assert nginx.stage("canary", 0) == ("stable", 0), "canary 0 % is the rollback state: the stable stage"


def test_a_restarted_nginx_container_renders_the_stage_last_set(tmp_path: Path) -> None:
    env = {**os.environ, "NGINX_CONF_DIR": str(tmp_path), "NGINX_MODE": "canary", "CANARY_PERCENT": "30"}
    subprocess.run(["sh", str(SCRIPT)], env=env, check=True, capture_output=True)
    # The container's environment still says shadow; the saved stage wins on a restart.
    subprocess.run(["sh", str(SCRIPT)], env={**env, "NGINX_MODE": "shadow"}, check=True, capture_output=True)
    assert nginx.read_stage(tmp_path / "stage") == {"mode": "canary", "candidate_percent": 30}, (
        "a restart fell back to the env's stage"
    )


def _pair(folder: Path, small_artifact: Path) -> Path:
    folder.mkdir()
    for file in (artifacts.MODEL_FILE, artifacts.METRICS_FILE):
        shutil.copy2(small_artifact / file, folder / file)
    return folder


def test_compose_refuses_a_missing_artifact_folder_before_docker_can_create_it(
    tmp_path: Path, small_artifact: Path
) -> None:
    good = _pair(tmp_path / "good", small_artifact)
    settings = compose.ComposeSettings(stable_dir=tmp_path / "stabel", candidate_dir=good)
    with pytest.raises(compose.ComposeError, match=r"STABLE_DIR=.*no such folder"):
        compose.check(settings)
    assert not (tmp_path / "stabel").exists()


def test_compose_refuses_an_artifact_folder_without_the_model(tmp_path: Path, small_artifact: Path) -> None:
    good = _pair(tmp_path / "good", small_artifact)
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = compose.ComposeSettings(stable_dir=good, candidate_dir=empty)
    with pytest.raises(compose.ComposeError, match=f"CANDIDATE_DIR=.*no {re.escape(artifacts.MODEL_FILE)}"):
        compose.check(settings)


def test_compose_refuses_a_mistyped_mode_before_any_folder_is_read(tmp_path: Path) -> None:
    settings = compose.ComposeSettings(nginx_mode="canery", stable_dir=tmp_path / "x", candidate_dir=tmp_path / "y")
    with pytest.raises(ValueError, match="MODE must be one of"):
        compose.check(settings)
