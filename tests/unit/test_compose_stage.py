"""One judge of a stage for the local stack and for compose, and compose's checks before Docker acts.

deploy/nginx.py's stage() judges MODE and CANARY_PERCENT for `make stack-set`
and `make compose-set`; nginx/render-stage.sh applies the same rules inside
the compose nginx container (which has no Python). These tests hold the two
to the same verdict on every input, so they cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import compose, nginx
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
    return rendered_stage(conf_dir, env)


def rendered_stage(conf_dir: Path, env: dict[str, str]) -> str:
    """Which stage template render-stage.sh rendered into conf_dir/stage.conf (as deploy/nginx.py renders it)."""
    written = (conf_dir / "stage.conf").read_text()
    matches = [
        mode
        for mode in nginx.MODES
        if nginx.envsubst((nginx.TEMPLATES / f"{mode}.conf.template").read_text(), env) == written
    ]
    assert len(matches) == 1, f"render-stage.sh wrote a stage.conf that is {len(matches)} of the stage templates"
    return matches[0]


@pytest.mark.parametrize(("mode", "percent"), CASES)
def test_the_local_stack_and_the_compose_nginx_judge_a_stage_alike(mode: str, percent: str, tmp_path: Path) -> None:
    assert shell_verdict(mode, percent, tmp_path) == python_verdict(mode, percent), (
        f"MODE={mode!r} CANARY_PERCENT={percent!r}: render-stage.sh and deploy.nginx.stage() disagree"
    )


def test_a_canary_at_0_percent_is_the_stable_stage_for_both() -> None:
    assert nginx.stage("canary", 0) == ("stable", 0), "canary 0 % must render stable: nginx refuses 0% in split_clients"


def test_every_mode_has_a_template_and_every_template_a_mode() -> None:
    templates = {p.name.removesuffix(".conf.template") for p in (ROOT / "nginx").glob("*.conf.template")}
    assert templates - {"00-common"} == set(nginx.MODES), (
        f"nginx/ has stage templates {sorted(templates)}; deploy.nginx.MODES is {nginx.MODES}"
    )


def test_a_restarted_nginx_container_renders_the_stage_last_set(tmp_path: Path) -> None:
    env = {**os.environ, "NGINX_CONF_DIR": str(tmp_path), "NGINX_MODE": "canary", "CANARY_PERCENT": "30"}
    subprocess.run(["sh", str(SCRIPT)], env=env, check=True, capture_output=True)
    # The container's environment still says shadow; the saved stage wins on a restart.
    subprocess.run(["sh", str(SCRIPT)], env={**env, "NGINX_MODE": "shadow"}, check=True, capture_output=True)
    assert rendered_stage(tmp_path, env) == "canary", "a restart fell back to the env's stage"


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
