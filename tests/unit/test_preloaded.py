"""What a launched child may keep of the launcher's project modules (src/fork_child.py `Preloaded`).

The launcher imports the project once; a child keeps those modules only when
a fresh `python -m` would import the very same files. Real files on disk: a
package imported from one folder, the same package in another, and an edit.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.fork_child import Preloaded

PACKAGE = "preloaded_pkg"


def _package(folder: Path, value: int) -> Path:
    (folder / PACKAGE).mkdir(parents=True)
    (folder / PACKAGE / "__init__.py").write_text("")
    (folder / PACKAGE / "mod.py").write_text(f"VALUE = {value}\n")
    return folder


@pytest.fixture
def imported(tmp_path: Path) -> Iterator[tuple[Path, Preloaded]]:
    """PACKAGE imported from tmp_path/first, as the launcher imports the project; recorded."""
    first = _package(tmp_path / "first", 1)
    sys.path.insert(0, str(first))
    try:
        importlib.import_module(f"{PACKAGE}.mod")
        yield first, Preloaded.record({PACKAGE})
    finally:
        sys.path.remove(str(first))
        for name in [n for n in sys.modules if n.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_child_on_the_same_checkout_keeps_the_modules(imported: tuple[Path, Preloaded]) -> None:
    first, preloaded = imported
    assert set(preloaded.files) == {str(first / PACKAGE / "__init__.py"), str(first / PACKAGE / "mod.py")}
    assert preloaded.current([str(first)]), "the same files, unedited: the child should keep them"


def test_another_copy_of_the_package_first_on_the_path_means_a_fresh_import(
    imported: tuple[Path, Preloaded], tmp_path: Path
) -> None:
    first, preloaded = imported
    copy = _package(tmp_path / "copy", 2)
    assert not preloaded.current([str(copy), str(first)]), "a child in a copy would run the launcher's files"


def test_a_plain_module_of_the_same_name_first_on_the_path_means_a_fresh_import(
    imported: tuple[Path, Preloaded], tmp_path: Path
) -> None:
    first, preloaded = imported
    (tmp_path / "shadow").mkdir()
    (tmp_path / "shadow" / f"{PACKAGE}.py").write_text("VALUE = 3\n")
    assert not preloaded.current([str(tmp_path / "shadow"), str(first)]), "`import` would find the module first"


def test_the_same_folder_through_a_symlink_means_a_fresh_import(
    imported: tuple[Path, Preloaded], tmp_path: Path
) -> None:
    first, preloaded = imported
    (tmp_path / "link").symlink_to(first)
    assert not preloaded.current([str(tmp_path / "link")]), "a fresh interpreter's __file__ would name the link"


def test_a_path_without_the_project_means_a_fresh_import(imported: tuple[Path, Preloaded], tmp_path: Path) -> None:
    _, preloaded = imported
    assert not preloaded.current([str(tmp_path)]), "a fresh interpreter here could not import the package at all"


def test_a_file_edited_since_the_launcher_imported_it_means_a_fresh_import(
    imported: tuple[Path, Preloaded],
) -> None:
    first, preloaded = imported
    (first / PACKAGE / "mod.py").write_text("VALUE = 10  # edited\n")
    assert not preloaded.current([str(first)]), "a child would run the code as it was before the edit"


def test_nothing_recorded_keeps_nothing(tmp_path: Path) -> None:
    assert not Preloaded().current([str(tmp_path)]), "a launcher that imported no project must not vouch for one"
