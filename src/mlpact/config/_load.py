"""Loading: YAML + overrides -> Config, with errors that name the key, the value and a fix."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from mlpact._core import files
from mlpact._core.project import add_project_paths
from mlpact.config._base import section_type
from mlpact.config._check import CheckConfig
from mlpact.config._config import Config
from mlpact.errors import NAME_RULE, ConfigError, ConfigNotFoundError, OverrideError

if TYPE_CHECKING:
    from mlpact.config import Config


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
    origins: dict[str, str] = {}
    if isinstance(source, Mapping):
        raw, label, default_name = copy.deepcopy(dict(source)), "config", None
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        raw, label, default_name = _read_layers(path, origins, []), str(path), path.stem
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    for item in overrides:
        for key in _set_by(raw, parse_override(item)[0]):
            origins[key] = f"--set {item.partition('=')[0]}"
        apply_override(raw, item)
    if default_name is not None and "name" not in raw:
        raw["name"] = _slug(default_name)
    _check_acyclic(raw, label)
    template = copy.deepcopy(raw)
    resolved, expressions = interpolate(raw)
    cfg = validate_config(resolved, label=label, origins=origins)
    _check_secrets(cfg, resolved, label)
    cfg = cfg.with_values(base_dir=folder.resolve(), template=template, expressions=expressions)
    add_project_paths(cfg.base_dir)  # a project's own code, named in the config, imports
    return cfg


def validate_config(
    raw: Mapping[str, Any], *, label: str = "config", origins: Mapping[str, str] | None = None
) -> Config:
    """Validate plain data into a :class:`Config`, turning pydantic errors into a ConfigError.

    `origins` maps key paths to the file (or override) that set them, named in the errors.
    """
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as exc:
        problems = _describe_errors(exc, origins or {})
        if all("[set in --set " in p for p in problems):
            label = f"the --set overrides of {label}"
        raise ConfigError(problems, source=label) from None


# --------------------------------------------------------------------------- composition
def thresholds_for(cfg: Config, overrides: Mapping[str, Any] | None = None) -> CheckConfig:
    """The version's `check:` section with overrides (CLI flags) applied and validated; an
    override of None sets the key to null (e.g. ``{"shift": None}``: rows needed from min_rows alone)."""
    if not overrides:
        return cfg.check
    raw = cfg.to_dict(reveal=True)
    raw["check"] = {**raw.get("check", {}), **overrides}
    return validate_config(raw, label="check thresholds").check


def _read_layers(path: Path, origins: dict[str, str], chain: list[Path]) -> dict[str, Any]:
    """A file merged over the files it `extends` (in order), recording which file set each key."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in [*chain, resolved])
        raise ConfigError([f"extends: the files extend each other in a cycle: {cycle}"], source=str(path))
    data = _read_yaml(path)
    bases = data.pop("extends", None)
    if bases is None:
        bases = []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(
            [f"extends: expected a file name or a list of them, found {_short(bases)}"], source=str(path)
        )
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = (path.parent / base).expanduser()
        if not base_path.is_file():
            raise ConfigError(
                [f"extends: {base!r} not found (looked for {base_path})"],
                source=str(path),
                hint="`extends:` paths are relative to the file that names them.",
            )
        merged = _merge(merged, _read_layers(base_path, origins, [*chain, resolved]))
    for key in _flat_keys(data):
        origins[key] = str(path)
    return _merge(merged, data)


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value (lists included) replaces the base's; null
    (``~``) removes an inherited key, so its default applies (``model: {params: null}``)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None and key in out:
            del out[key]
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def key_paths(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config data as ``key.path -> value`` (an empty mapping stays a value)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(key_paths(value, path + "."))
        else:
            out[path] = value
    return out


def _flat_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, Mapping):
            keys += _flat_keys(value, path + ".")
    return keys


_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(raw: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """Replace ``${env:VAR}`` and ``${env:VAR:-default}`` in string values with the environment's.

    Returns:
        The data with values substituted, and the original expression per key path (so what is
        saved shows ``${env:VAR}``, never the value).

    Raises:
        ConfigError: a variable is not set and has no default.
    """
    import os

    if isinstance(raw, Mapping):
        out, found = {}, {}
        for key, value in raw.items():
            out[key], more = interpolate(value, f"{path}.{key}" if path else str(key))
            found.update(more)
        return out, found
    if isinstance(raw, list):
        items = [interpolate(v, f"{path}.{i}") for i, v in enumerate(raw)]
        return [v for v, _ in items], {k: e for _, more in items for k, e in more.items()}
    if not isinstance(raw, str) or "${env:" not in raw:
        return raw, {}
    missing = [m.group(1) for m in _ENV.finditer(raw) if m.group(1) not in os.environ and m.group(2) is None]
    if missing:
        raise ConfigError([f"{path}: environment variable {missing[0]} is not set (found {raw!r}); "
                           f"set it, or give a default: ${{env:{missing[0]}:-value}}"])  # fmt: skip
    text = _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), raw)
    value = text
    if _ENV.fullmatch(raw) and text.strip():
        try:
            value = files.safe_yaml(text)
        except yaml.YAMLError:  # not a YAML scalar (or a !!python tag): the text itself
            value = text
    return value, {path: raw}


def _check_acyclic(raw: Any, label: str) -> None:
    """YAML anchors can make a list contain itself (``a: &x [*x]``); refuse that, and absurd
    nesting, before anything walks the data."""
    import json

    try:
        json.dumps(raw, default=str)
    except (ValueError, RecursionError):
        raise ConfigError(
            ["the config refers to itself (an anchor used inside itself) or is nested too deeply"],
            source=label,
        ) from None


def _check_secrets(cfg: Config, resolved: Mapping[str, Any], label: str) -> None:
    keys = set(_flat_keys(resolved))
    unknown = sorted(set(cfg.secrets) - keys)
    if unknown:
        raise ConfigError([f"secrets: {k!r} is not a key of this config" for k in unknown], source=label)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        folder = path.resolve().parent
        near = [p.name for p in folder.glob("*.y*ml")] if folder.is_dir() else []
        raise ConfigNotFoundError(str(path), looked=str(path.resolve()), near=near[:10]) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"expected a YAML file, found the folder {str(path)!r}"],
            hint="Name the config file inside it, e.g. config.yaml.",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"expected a UTF-8 text file, found bytes that are not text (at byte {exc.start})"],
            source=str(path),
            hint=_data_file_hint(path),
        ) from None
    except OSError as exc:
        raise ConfigError([f"cannot read {str(path)!r}: {exc.strerror}"]) from None
    try:
        data = files.safe_yaml(text)
    except yaml.YAMLError as exc:
        problem, hint = _describe_yaml_error(exc, text)
        raise ConfigError([problem], source=str(path), hint=hint) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"expected a mapping of sections at the top level, found {type(data).__name__}"],
            source=str(path),
            hint=_data_file_hint(path),
        )
    return data


def _data_file_hint(path: Path) -> str | None:
    """For a data file passed where a config goes: how to get a config for it."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xls"):
        return None
    return (
        f"{path.name} looks like a data file; this command takes a YAML config. "
        f"`mlpact init --from-data {path} --target COLUMN` writes one for it."
    )


def _describe_yaml_error(exc: yaml.YAMLError, text: str) -> tuple[str, str]:
    """A YAML syntax error as 'at line L, column C: what' (1-based), naming a tab when one is the
    cause, and the hint to give."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return f"not valid YAML: {exc}", _YAML_HINT
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    where = f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}"
    if "\t" in line[: mark.column + 1]:
        return (
            f"{where}: a tab character; YAML indents with spaces only (found {line!r})",
            "Replace the tabs with spaces (editors: 'convert indentation to spaces').",
        )
    what = getattr(exc, "problem", None) or "not valid YAML"
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and cmark is not None and cmark is not mark:
        what += f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
    found = repr(line.strip()) if mark.line < len(lines) else "the end of the file"
    return f"{where}: {what} (found {found})", _YAML_HINT


_YAML_HINT = (
    "YAML is `key: value` pairs indented with spaces; quote a value that contains ': ' or starts "
    "with one of [ { & * ! | > ' \" % @ `."
)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"
    return slug[:64]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise OverrideError(item, flag="--set", form="key.path=value", example="model.params.C=0.5")
    try:
        parsed = files.safe_yaml(value) if value.strip() else None
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
            raise ConfigError(
                [f"--set {item!r}: {where} is {_short(child)}, not a section with keys"],
                hint=f"Set {where} itself (--set {where}=VALUE), or check the key path.",
            )
        node = child
    node[parts[-1]] = value


def _set_by(raw: Mapping[str, Any], parts: Sequence[str]) -> list[str]:
    """The key paths an override of `parts` sets: the whole path and each section it creates
    (so an error about a misspelt section is attributed to the --set that made it)."""
    keys, node = [], raw
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, Mapping) or part not in node:
            keys.append(".".join(parts[: i + 1]))
            node = {}
        else:
            node = node[part]
    return [*keys, ".".join(parts)]


def _describe_errors(exc: ValidationError, origins: Mapping[str, str]) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            text = _describe_unknown_key(loc, err.get("input"))
        elif err["type"] == "missing":
            text = f"{path}: required key is missing"
        elif err["type"] == "string_pattern_mismatch" and loc == ["name"]:
            text = f"name: expected {NAME_RULE} (found {_short(err.get('input'))})"
        else:
            found = _short(err.get("input"))
            msg = err["msg"].removeprefix("Value error, ")
            text = f"{path}: {msg} (found {found})"
        problems.append(text + _origin(loc, origins))
    return sorted(problems)


def _origin(loc: Sequence[str], origins: Mapping[str, str]) -> str:
    """Where the key (or its closest parent) was set, when the config came from several files."""
    if len(set(origins.values())) < 2:
        return ""
    for n in range(len(loc), 0, -1):
        where = origins.get(".".join(loc[:n]))
        if where:
            return f" [set in {where}]"
    return ""


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


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editor completion."""
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlpact run config"
    return schema
