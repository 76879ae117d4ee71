"""Loading: YAML + overrides -> Config, with errors that name the key, the value and a fix."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from mlpact.bundle import safe_yaml
from mlpact.config._config import Config
from mlpact.errors import ConfigError


# --------------------------------------------------------------------------- loading
def load_config(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    base_dir: str | Path | None = None,
) -> Config:
    """Read, override and validate a config.

    Args:
        source: a YAML file, or a mapping with the same content.
        overrides: ``key.path=value`` strings; values are parsed as YAML scalars or lists.
        base_dir: folder for relative paths; default: the file's folder (or the cwd).

    Returns:
        The validated, frozen config.

    Raises:
        ConfigError: the file cannot be read, an override is malformed or a value is invalid.
    """
    if isinstance(source, Mapping):
        raw, label, default_name = dict(source), "config", None
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        raw, label, default_name = _read_yaml(path), str(path), path.stem
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    for item in overrides:
        apply_override(raw, item)
    if default_name is not None and "name" not in raw:
        raw["name"] = _slug(default_name)
    cfg = validate_config(raw, label=label)
    cfg._base_dir = folder.resolve()
    return cfg


def validate_config(raw: Mapping[str, Any], *, label: str = "config") -> Config:
    """Validate plain data into a :class:`Config`, turning pydantic errors into a ConfigError."""
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc), source=label) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {str(path)!r} does not exist"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read {str(path)!r}: {exc.strerror}"]) from None
    try:
        data = safe_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"expected a mapping of sections at the top level, found {type(data).__name__}"],
            source=str(path),
        )
    return data


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"
    return slug[:64]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise ConfigError([f"override {item!r} is not of the form key.path=value (e.g. model.params.C=0.5)"])
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return parts, parsed


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set one ``key.path=value`` override in a raw config mapping, in place."""
    parts, value = parse_override(item)
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError([f"override {item!r}: {where} is {child!r}, not a section with keys"])
        node = child
    node[parts[-1]] = value


def _describe_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(_describe_unknown_key(loc, err.get("input")))
        elif err["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            found = _short(err.get("input"))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {msg} (found {found})")
    return sorted(problems)


def _describe_unknown_key(loc: list[str], value: Any) -> str:
    path = ".".join(loc)
    allowed = _keys_at(loc[:-1])
    text = f"{path}: unknown key (found {_short(value)})"
    if allowed:
        match = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
        if match:
            text += f"; did you mean `{'.'.join([*loc[:-1], match[0]])}`?"
        text += f" Allowed keys here: {', '.join(sorted(allowed))}."
    return text


def _keys_at(loc: Sequence[str]) -> list[str]:
    """The valid keys of the config section at a key path (empty if it is not a section)."""
    model: Any = Config
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        model = section_type(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def section_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editor completion."""
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlpact run config"
    return schema
