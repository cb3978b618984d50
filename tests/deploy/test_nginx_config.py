"""Every stage renders to a config nginx accepts, and compose feeds the templates what they need."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.drivers import nginx
from deploy.drivers.stack import effective_mode, stage_dir, template_values
from deploy.settings import StackSettings
from src.config import ROOT


def test_the_config_renders_to_one_nginx_accepts(tmp_path: Path) -> None:
    cfg = StackSettings(stack_dir=tmp_path)
    conf = nginx.main_config(tmp_path)
    nginx.render(template_values(cfg), tmp_path / "conf.d")
    nginx.check(conf)  # raises with nginx's own message on a bad config
    rendered = (tmp_path / "conf.d" / "stage.conf").read_text()
    assert "${" not in rendered, "a template variable was left unrendered"
    assert "$request_id" in rendered, "envsubst must leave nginx's own variables alone"


@pytest.mark.parametrize(
    ("mode", "percent", "sticky"),
    [("stable", 0, False), ("shadow", 0, False), ("canary", 5, False), ("canary", 100, True), ("canary", 0, False)],
)
def test_every_stage_is_the_same_config_and_only_the_stage_files_differ(
    tmp_path: Path, mode: str, percent: int, sticky: bool
) -> None:
    """A stage switch must never need a reload: the rendered config is one for every stage."""
    base = StackSettings(stack_dir=tmp_path, canary_sticky=sticky)
    cfg = base.model_copy(update={"mode": mode, "canary_percent": percent})
    nginx.render(template_values(base), tmp_path / "a")
    nginx.render(template_values(cfg), tmp_path / "b")
    for name in nginx.TEMPLATE_FILES:
        assert (tmp_path / "a" / f"{name}.conf").read_text() == (tmp_path / "b" / f"{name}.conf").read_text(), (
            f"the {mode} stage renders another {name}.conf: switching to it would need a reload"
        )
    nginx.write_stage(stage_dir(cfg), mode, percent)
    assert nginx.read_stage(stage_dir(cfg))["mode"] == effective_mode(cfg)


def test_a_zero_percent_canary_is_the_stable_stage() -> None:
    assert effective_mode(StackSettings(mode="canary", canary_percent=0)) == "stable", (
        "weight 0 is the rollback state: the all-stable stage, with no request mirrored"
    )


def test_a_broken_template_value_fails_nginx_t_with_its_message(tmp_path: Path) -> None:
    cfg = StackSettings(stack_dir=tmp_path)
    values = {**template_values(cfg), "SHADOW_TIMEOUT": "soon"}
    nginx.render(values, tmp_path / "conf.d")
    with pytest.raises(ValueError, match="nginx -t failed"):
        nginx.check(nginx.main_config(tmp_path))


def test_a_missing_template_value_is_named_before_nginx_runs(tmp_path: Path) -> None:
    values = template_values(StackSettings())
    del values["CANDIDATE_ADDR"]
    with pytest.raises(ValueError, match="CANDIDATE_ADDR"):
        nginx.render(values, tmp_path)


def test_compose_gives_nginx_every_template_variable_and_mounts_real_files() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    env = services["nginx"]["environment"]
    missing = nginx.template_variables() - env.keys()
    assert not missing, f"compose's nginx lacks {sorted(missing)}: envsubst would leave them"
    [templates] = services["nginx"]["volumes"]
    mounted = ROOT / templates["source"]
    for name in nginx.TEMPLATE_FILES:
        path = mounted / f"{name}.conf.template"
        assert path.is_file(), f"compose mounts {templates['source']}, which has no {path.name}"
    assert services["nginx"]["entrypoint"][0] == f"{templates['target']}/render-stage.sh", (
        "nginx must start through render-stage.sh, which renders the mounted templates and writes the stage"
    )
    assert not env["STAGE_DIR"].startswith(templates["target"]), "the stage files must not be in the read-only mount"
    assert services["stable"]["environment"]["MODEL_VARIANT"] == "stable"
    assert services["candidate"]["environment"]["MODEL_VARIANT"] == "candidate"
    for name in ("stable", "candidate"):
        assert services["nginx"]["depends_on"][name]["condition"] == "service_healthy"
        for mount in services[name]["volumes"]:
            assert mount["read_only"] is True, f"{name}'s artifact must be read-only"
            assert mount["bind"]["create_host_path"] is False, f"Docker would invent an empty {name} artifact folder"
