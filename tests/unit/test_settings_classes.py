"""Every environment variable the project reads is on docs/configuration.md: no settings class is left off it."""

from __future__ import annotations

import ast

from src.config import ROOT
from tools import config_doc

PACKAGES = ("src", "app", "deploy", "labs", "benchmarks", "tools")


def _settings_classes() -> dict[str, str]:
    """Every class deriving from BaseSettings, found in the source (name -> file), so none hides from the page."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])}
                if isinstance(node, ast.ClassDef) and "BaseSettings" in bases:
                    found[node.name] = str(path.relative_to(ROOT))
    return found


def test_every_settings_class_is_on_the_configuration_page():
    declared = {cls.__name__: where for cls, where in config_doc.CLASSES}
    found = _settings_classes()
    assert found, "no settings class found: the search is broken, not the page"
    assert found == declared, f"classes in the code {found} vs on docs/configuration.md {declared}"


def test_the_interfaces_page_names_every_settings_class():
    page = (ROOT / "docs" / "interfaces.md").read_text()
    missing = sorted(name for name in _settings_classes() if f"`{name}`" not in page)
    assert not missing, f"docs/interfaces.md does not list {missing}"
