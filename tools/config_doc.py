"""docs/configuration.md, generated from the settings classes themselves.

Each component reads its environment through one pydantic-settings class;
this renders every field of every class (variable, default, meaning), so
the page cannot describe a variable the code does not read, or miss one it
does. `make config-doc` rewrites the page; a unit test fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from app.settings import ServiceSettings
from deploy.settings import (
    ComposeSettings,
    ExportSettings,
    FaultSettings,
    ReleaseChecksSettings,
    RolloutSettings,
    StackSettings,
)
from labs.surfaces import LabSettings
from src import exits
from src.config import ROOT, PipelineSettings
from src.launcher import LauncherSettings
from src.registry import RegistrySettings
from src.signing import TrustSettings

PAGE = ROOT / "docs" / "configuration.md"
CLASSES: tuple[tuple[type[BaseSettings], str], ...] = (
    (PipelineSettings, "src/config.py"),
    (RegistrySettings, "src/registry.py"),
    (ServiceSettings, "app/settings.py"),
    (TrustSettings, "src/signing.py"),
    (StackSettings, "deploy/settings.py"),
    (RolloutSettings, "deploy/settings.py"),
    (FaultSettings, "deploy/settings.py"),
    (ComposeSettings, "deploy/settings.py"),
    (ExportSettings, "deploy/settings.py"),
    (ReleaseChecksSettings, "deploy/settings.py"),
    (LabSettings, "labs/surfaces.py"),
    (LauncherSettings, "src/launcher.py"),
)


def variable(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    if isinstance(field.alias, str):
        return field.alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def default(field: FieldInfo) -> str:
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None:
        return "-"
    if isinstance(value, Path):
        if value == ROOT:
            return "the repository root"
        return f"`{value.relative_to(ROOT)}`" if value.is_relative_to(ROOT) else f"`{value}`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "For everyone who runs a part of the project. Every setting is an environment variable with a safe",
        "default; an empty value means the default. Each component reads its variables through one class,",
        "and this page is generated from those classes (`make config-doc`); a test fails when it is stale.",
    ]
    for cls, module in CLASSES:
        lines += ["", f"## {cls.__name__} (`{module}`)", "", (cls.__doc__ or "").strip(), ""]
        lines += ["| variable | default | meaning |", "| --- | --- | --- |"]
        for name, field in cls.model_fields.items():
            lines.append(f"| `{variable(cls, name, field)}` | {default(field)} | {field.description or ''} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render())
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
