"""Every stage renders to a config nginx accepts, and compose feeds the templates what they need."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy import nginx
from deploy.stack import StackSettings, effective_mode, template_values
from src.config import ROOT


@pytest.mark.parametrize(
    ("mode", "percent", "sticky"),
    [("stable", 0, False), ("shadow", 0, False), ("canary", 5, False), ("canary", 100, True), ("canary", 0, False)],
)
def test_every_stage_renders_to_a_config_nginx_accepts(tmp_path: Path, mode: str, percent: int, sticky: bool) -> None:
    cfg = StackSettings(mode=mode, canary_percent=percent, canary_sticky=sticky, stack_dir=tmp_path)
    conf = nginx.main_config(tmp_path)
    nginx.render(effective_mode(cfg), template_values(cfg), tmp_path / "conf.d")
    nginx.check(conf)  # raises with nginx's own message on a bad config
    rendered = (tmp_path / "conf.d" / "stage.conf").read_text()
    assert "${" not in rendered, "a template variable was left unrendered"
    assert "$request_id" in rendered, "envsubst must leave nginx's own variables alone"


def test_a_zero_percent_canary_is_the_stable_stage() -> None:
    assert effective_mode(StackSettings(mode="canary", canary_percent=0)) == "stable", (
        "nginx rejects '0%' in split_clients; weight 0 must render the all-stable stage"
    )


def test_a_broken_template_value_fails_nginx_t_with_its_message(tmp_path: Path) -> None:
    cfg = StackSettings(mode="canary", canary_percent=5, stack_dir=tmp_path)
    values = {**template_values(cfg), "CANARY_PERCENT": "150"}
    nginx.render("canary", values, tmp_path / "conf.d")
    with pytest.raises(ValueError, match="nginx -t failed"):
        nginx.check(nginx.main_config(tmp_path))


def test_a_missing_template_value_is_named_before_nginx_runs(tmp_path: Path) -> None:
    values = template_values(StackSettings())
    del values["CANDIDATE_ADDR"]
    with pytest.raises(ValueError, match="CANDIDATE_ADDR"):
        nginx.render("shadow", values, tmp_path)


def test_compose_gives_nginx_every_template_variable_and_mounts_real_files() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    env = services["nginx"]["environment"]
    for mode in nginx.MODES:
        missing = nginx.template_variables(mode) - env.keys()
        assert not missing, f"compose's nginx lacks {sorted(missing)} for the {mode} stage: envsubst would leave them"
    [templates] = services["nginx"]["volumes"]
    mounted = ROOT / templates["source"]
    for mode in nginx.MODES:
        path = mounted / f"{mode}.conf.template"
        assert path.is_file(), f"compose mounts {templates['source']}, which has no {path.name} (NGINX_MODE={mode})"
    assert services["nginx"]["entrypoint"][0] == f"{templates['target']}/render-stage.sh", (
        "nginx must start through render-stage.sh, which picks the stage from the mounted templates"
    )
    assert services["stable"]["environment"]["MODEL_VARIANT"] == "stable"
    assert services["candidate"]["environment"]["MODEL_VARIANT"] == "candidate"
    for name in ("stable", "candidate"):
        assert services["nginx"]["depends_on"][name]["condition"] == "service_healthy"
        for mount in services[name]["volumes"]:
            assert mount["read_only"] is True, f"{name}'s artifact must be read-only"
            assert mount["bind"]["create_host_path"] is False, f"Docker would invent an empty {name} artifact folder"
