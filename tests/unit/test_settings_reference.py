"""docs/settings.md stays true to the code: one table row for every environment variable that a
pydantic-settings class in the packages reads, and no row for one that none reads.

The classes are found, not listed: every module of the packages whose source mentions
``BaseSettings`` or subclasses a settings class is imported, and every ``BaseSettings`` subclass
defined there counts. A field's variable is its alias (or each name of its validation alias)
when it has one, else the class's ``env_prefix`` plus its name, upper-cased.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("command_side", "query_side", "sync_worker", "embeddings", "common", "operations", "semsearch",
            "benchmarks")
REFERENCE = ROOT / "docs" / "settings.md"
ROW = re.compile(r"^\|\s*(?P<first>[^|]*?)\s*\|")


def _settings_modules() -> list[str]:
    """Modules that define a class whose bases name BaseSettings or a *Settings class."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                bases = [ast.unparse(b) for b in getattr(node, "bases", [])]
                if isinstance(node, ast.ClassDef) and any(b.endswith("Settings") for b in bases):
                    found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
                    break
    return found


def settings_classes() -> list[type[BaseSettings]]:
    classes: dict[str, type[BaseSettings]] = {}
    for name in _settings_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls is not BaseSettings \
                    and cls.__module__ == module.__name__:
                classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(classes.values())


def _field_variables(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names |= {c.upper() for c in alias.choices if isinstance(c, str)}
            names |= {str(c.path[0]).upper() for c in alias.choices if isinstance(c, AliasPath)}
        elif isinstance(alias, AliasPath):
            names.add(str(alias.path[0]).upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def variables_in_code() -> dict[str, set[str]]:
    """Each variable, with the classes that read it."""
    out: dict[str, set[str]] = {}
    for cls in settings_classes():
        for name in _field_variables(cls):
            out.setdefault(name, set()).add(cls.__qualname__)
    return out


def variables_in_reference(text: str) -> tuple[set[str], list[str]]:
    """The backticked names of the tables' first column, and the rows that hold not exactly one."""
    names: set[str] = set()
    bad: list[str] = []
    for line in text.splitlines():
        match = ROW.match(line)
        if not match or set(match["first"]) <= set("-: ") or match["first"] == "variable":
            continue
        listed = re.findall(r"`([^`]+)`", match["first"])
        if len(listed) != 1:
            bad.append(line)
        names.update(listed)
    return names, bad


def test_the_settings_classes_are_found() -> None:
    found = {cls.__qualname__ for cls in settings_classes()}
    assert {"CommandSettings", "WorkerSettings", "QuerySettings", "StoreSettings",
            "AuthSettings", "RateLimitSettings"} <= found


def test_every_setting_has_one_row_in_the_reference_and_every_row_a_setting() -> None:
    in_code = variables_in_code()
    documented, bad_rows = variables_in_reference(REFERENCE.read_text())
    missing = sorted(set(in_code) - documented)
    unknown = sorted(documented - set(in_code))
    problems = []
    if missing:
        problems.append("in code but not in docs/settings.md: " + ", ".join(
            f"{name} ({'/'.join(sorted(in_code[name]))})" for name in missing))
    if unknown:
        problems.append("in docs/settings.md but read by no settings class: " + ", ".join(unknown))
    if bad_rows:
        problems.append("rows that name not exactly one `VARIABLE` in their first column:\n  "
                        + "\n  ".join(bad_rows))
    assert not problems, "\n".join(problems)


def test_a_prefix_and_aliases_are_respected() -> None:
    from pydantic import Field
    from pydantic_settings import SettingsConfigDict

    class Prefixed(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="app_")
        plain: int = 1
        aliased: int = Field(default=1, validation_alias="OTHER_NAME")
        choices: int = Field(default=1, validation_alias=AliasChoices("FIRST", "second"))

    assert _field_variables(Prefixed) == {"APP_PLAIN", "OTHER_NAME", "FIRST", "SECOND"}


def test_the_reference_parser_reads_one_name_per_row() -> None:
    text = ("| variable | default |\n| --- | --- |\n| `A_B` | `1` |\n"
            "| `C`, `D` | x |\n| E | y |\n")
    names, bad = variables_in_reference(text)
    assert names == {"A_B", "C", "D"}
    assert bad == ["| `C`, `D` | x |", "| E | y |"]
