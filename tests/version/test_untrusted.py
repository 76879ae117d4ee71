"""Hostile files: every path that reads something mlpact did not write itself is safe.

One test per path, each with a crafted file: a version folder, an exported archive, a notebook, a
config, and the custom code a config names. None may unpickle anything, execute code it was not
asked to run, or end in anything but a clean, typed error.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import mlpact
from conftest import write_config
from mlpact._core import files
from mlpact.config import import_paths
from mlpact.errors import ConfigError, IntegrityError, NotebookError, UntrustedTypesError
from mlpact.store import Store, _versions
from mlpact.version import bundle, portable
from mlpact.version.portable import EXPORT_META, export_version, import_version

IRIS = {
    "name": "iris",
    "data": {"source": "sklearn:iris"},
    "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
    "evaluate": {"cv_folds": 0, "plots": False},
}


class _Pickled(Exception):
    """Raised by the stand-ins for pickle and joblib: a test reaching one has failed."""


class _Payload:
    """Unpickling this runs code: it creates the file named by `path`."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


@pytest.fixture
def no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way to unpickle raise, so a path that reaches one fails loudly."""
    import _pickle

    import joblib

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _Pickled("pickle was used")

    for module, attr in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (_pickle, "load"),
                         (_pickle, "loads"), (_pickle, "Unpickler"), (joblib, "load")]:  # fmt: skip
        monkeypatch.setattr(module, attr, refuse)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One trained version and its export, shared (read-only) by the tests here."""
    root = tmp_path_factory.mktemp("untrusted")
    result = mlpact.train(IRIS, store=root / "store")
    archive = export_version(result.ref, root / "iris.tar.gz", store=root / "store")
    return {"store": root / "store", "ref": result.ref, "path": result.version.path, "archive": archive}


def _copy_version(source: dict[str, Any], tmp_path: Path) -> Path:
    folder = tmp_path / "version"
    shutil.copytree(source["path"], folder)
    for path in folder.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return folder


def _rehash(folder: Path, **manifest_changes: Any) -> None:
    """Rewrite the manifest so every file matches it again (what an attacker can always do)."""
    manifest = json.loads((folder / _versions.MANIFEST).read_text())
    manifest["files"] = bundle.hash_files(folder)
    manifest.update(manifest_changes)
    (folder / _versions.MANIFEST).write_text(json.dumps(manifest))


def _leftovers(store: Path) -> list[Path]:
    if not store.exists():
        return []
    return [*(store / "tmp").iterdir(), *(store / "models").glob("*/*")]


# --------------------------------------------------------------------------- loading a version
def test_a_trained_version_loads_and_predicts_without_pickle(source: dict[str, Any], no_pickle: None) -> None:
    from sklearn.datasets import load_iris

    model = mlpact.load(source["ref"], store=source["store"])
    assert list(model.predict(load_iris(as_frame=True).data.head(5))) == [0, 0, 0, 0, 0]


def test_a_pickle_disguised_as_a_pipeline_is_never_unpickled(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    folder = _copy_version(source, tmp_path)
    marker = tmp_path / "PWNED"
    (folder / bundle.PIPELINE).write_bytes(pickle.dumps(_Payload(marker)))
    _rehash(folder)
    with pytest.raises(IntegrityError):
        mlpact.load(folder)
    assert not marker.exists()


def test_a_version_whose_config_names_os_system_gains_no_trust(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    """A rewritten folder: pipeline calls os.system; config and manifest name it; all rehashed."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = _copy_version(source, tmp_path)
    evil = sio.dumps(FunctionTransformer(func=os.system))
    (folder / bundle.PIPELINE).write_bytes(evil)
    config = files.safe_yaml((folder / "config.yaml").read_text())
    config["model"]["type"] = "os.system"
    (folder / "config.yaml").write_text(json.dumps(config))
    _rehash(folder, trusted_types=sorted(sio.get_untrusted_types(data=evil)))
    with pytest.raises(UntrustedTypesError, match="posix.system|os.system"):
        mlpact.load(folder)


def test_lineage_cannot_make_loading_import_a_module_the_config_does_not_name(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    folder = _copy_version(source, tmp_path)
    lineage = json.loads((folder / "lineage.json").read_text())
    lineage["code"] = [{"path": "this.s", "module": "this", "sha256": None}]  # `import this` prints
    (folder / "lineage.json").write_text(json.dumps(lineage))
    _rehash(folder)
    with pytest.raises(UntrustedTypesError, match=r"not in the trusted list: \['this.s'\]"):
        mlpact.load(folder)


@pytest.mark.parametrize(
    "name, text",
    [
        ("schema.json", "[]"),
        ("schema.json", "{}"),
        ("schema.json", '{"columns": 5}'),
        ("schema.json", '{"target": "x", "columns": [{"name": 1}]}'),
        ("lineage.json", "null"),
        ("lineage.json", '{"code": [1]}'),
        ("metrics.json", '"x"'),
        ("config.yaml", "just text"),
        ("schema.json", "\xff\xfe not utf-8"),
    ],
)
def test_files_mlpact_did_not_write_are_integrity_errors(
    source: dict[str, Any], tmp_path: Path, name: str, text: str, no_pickle: None
) -> None:
    """Rewritten and rehashed (so only their content can give them away): a clean refusal."""
    folder = _copy_version(source, tmp_path)
    (folder / name).write_bytes(text.encode("latin-1"))
    _rehash(folder)
    with pytest.raises(IntegrityError, match=name):
        mlpact.load(folder)


def test_a_valid_archive_imports_without_pickle(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    record = import_version(source["archive"], store=tmp_path / "store")
    assert record.ref == "iris:1" and mlpact.load(record.ref, store=tmp_path / "store").ref == "iris:1"


# --------------------------------------------------------------------------- importing an archive
def _archive(dst: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(dst, "w:gz") as out:
        for info, data in members:
            out.addfile(info, io.BytesIO(data))
    return dst


def _members(src: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(src, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]


def test_an_archive_with_a_huge_member_is_refused_before_it_is_written(
    source: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_pickle: None
) -> None:
    monkeypatch.setattr(portable, "MAX_BYTES", 64 * 1024)
    bomb = tarfile.TarInfo("version/reports/big.png")
    bomb.size = 1 << 20  # zeros: the whole archive stays small
    bad = _archive(tmp_path / "bomb.tar.gz", [*_members(source["archive"]), (bomb, bytes(bomb.size))])
    assert bad.stat().st_size < 200_000
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match="more than 65536 bytes uncompressed"):
        import_version(bad, store=store)
    assert _leftovers(store) == []


def test_an_archive_with_duplicate_members_is_refused(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    members = _members(source["archive"])
    schema = next((m, d) for m, d in members if m.name == "version/schema.json")
    bad = _archive(tmp_path / "dup.tar.gz", [*members, schema])
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match="duplicate members: 'version/schema.json'"):
        import_version(bad, store=store)
    assert _leftovers(store) == []


@pytest.mark.parametrize(
    "spelled", ["version/./config.yaml", "./version/config.yaml", "version//config.yaml"]
)
def test_a_duplicate_member_spelled_differently_is_refused(
    source: dict[str, Any], tmp_path: Path, spelled: str, no_pickle: None
) -> None:
    twin = tarfile.TarInfo(spelled)
    twin.size = len(b"name: evil\n")
    bad = _archive(tmp_path / "dup.tar.gz", [*_members(source["archive"]), (twin, b"name: evil\n")])
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match=f"duplicate members: {re.escape(repr(spelled))}"):
        import_version(bad, store=store)
    assert _leftovers(store) == []


def _oversized_header(dst: Path, kind: bytes, claimed: int) -> Path:
    """A .tar.gz whose first header is a GNU long name or a PAX header claiming `claimed` bytes
    (zeros, so the archive stays small): tarfile would read all of them into memory."""
    import gzip

    header = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    header.type, header.size = kind, claimed
    block = header.tobuf(
        format=tarfile.GNU_FORMAT if kind == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT
    )
    with gzip.open(dst, "wb", compresslevel=1) as out:
        out.write(block)
        for _ in range(claimed // (1 << 20) + 1):
            out.write(bytes(1 << 20))
    return dst


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE], ids=["gnu-long-name", "pax"])
def test_a_huge_name_or_pax_header_is_refused_before_it_is_read(
    tmp_path: Path, kind: bytes, no_pickle: None
) -> None:
    import tracemalloc

    bad = _oversized_header(tmp_path / "long.tar.gz", kind, 32 << 20)
    store = tmp_path / "store"
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match=f"claims {32 << 20} bytes") as caught:
            import_version(bad, store=store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20 and len(caught.value.message) < 400  # the 32 MiB header was never read
    assert _leftovers(store) == []


def test_a_long_member_name_is_refused_and_never_echoed_whole(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    name = "version/" + "a" * 50_000
    long = tarfile.TarInfo(name)
    long.size = 1
    bad = tmp_path / "long.tar.gz"
    with tarfile.open(bad, "w:gz", format=tarfile.PAX_FORMAT) as out:
        for info, data in [*_members(source["archive"]), (long, b"x")]:
            out.addfile(info, io.BytesIO(data))
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match="a member's name has 50008 characters") as caught:
        import_version(bad, store=store)
    assert len(caught.value.message) < 400 and "more characters" in caught.value.message
    result = CliRunner().invoke(app, ["models", "import", str(bad), "--store", str(store)])
    assert result.exit_code == 6 and len(result.output) < 1000 and _leftovers(store) == []


def test_an_archive_with_a_pickle_and_a_consistent_digest_is_never_unpickled(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    members = _members(source["archive"])
    manifest = json.loads(next(d for m, d in members if m.name == "version/manifest.json"))
    manifest["files"]["pipeline.skops"] = hashlib.sha256(payload).hexdigest()
    manifest_bytes = json.dumps(manifest).encode()
    meta = {"format": 1, "name": "iris", "version": 1, "digest": hashlib.sha256(manifest_bytes).hexdigest()}
    changed = {"version/pipeline.skops": payload, "version/manifest.json": manifest_bytes,
               EXPORT_META: json.dumps(meta).encode()}  # fmt: skip
    rebuilt = []
    for info, data in members:
        data = changed.get(info.name, data)
        info.size = len(data)
        rebuilt.append((info, data))
    store = tmp_path / "store"
    with pytest.raises(IntegrityError):
        import_version(_archive(tmp_path / "pickle.tar.gz", rebuilt), store=store)
    assert not marker.exists() and _leftovers(store) == []


# --------------------------------------------------------------------------- reading a notebook
def test_a_crafted_notebook_is_read_never_run(tmp_path: Path, no_pickle: None) -> None:
    nbformat = pytest.importorskip("nbformat")
    from mlpact import notebooks

    marker = tmp_path / "PWNED"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "x", "language": "python",
                                 "argv": ["sh", "-c", f"touch {marker}"]}  # fmt: skip
    nb.metadata["jupyter"] = {"source_hidden": True, "on_open": f"open({str(marker)!r}, 'w')"}
    code = f"#| export\nimport os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w')"
    cell = nbformat.v4.new_code_cell(code, execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)",
                                                     "text/html": "<script>alert(1)</script>"}),
    ]  # fmt: skip
    nb.cells.append(cell)
    path = tmp_path / "evil.ipynb"
    nbformat.write(nb, path)
    report = notebooks.check(path)
    assert report.path == str(path)
    notebooks.export(path, tmp_path / "evil_module.py")
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2, 3]",
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "source": 5, "metadata": {}, "outputs": [], "execution_count": None}
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        ),
        json.dumps({"cells": "x", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        json.dumps({"nbformat": 99}),
        "\x00\x01\x02" * 10,
    ],
    ids=["not-json", "a-list", "source-not-text", "cells-not-a-list", "future-format", "binary"],
)
@pytest.mark.filterwarnings("ignore:Cell is missing an id field")
def test_a_broken_notebook_is_a_clean_notebook_error(tmp_path: Path, text: str, no_pickle: None) -> None:
    pytest.importorskip("nbformat")
    from mlpact import notebooks

    path = tmp_path / "bad.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError, match="Cannot read"):
        notebooks.check(path)
    with pytest.raises(NotebookError, match="Cannot read"):
        notebooks.export(path, tmp_path / "m.py")


# --------------------------------------------------------------------------- reading a config
@pytest.mark.parametrize(
    "text",
    [
        "name: !!python/object/apply:os.system ['touch {marker}']\n",
        "!!python/object/new:os.system ['touch {marker}']\n",
        "model: !!python/name:os.system\n",
        "data: {{source: !!binary aGVsbG8=}}\nname: !!python/object/apply:builtins.open ['{marker}', 'w']\n",
    ],
    ids=["apply", "new", "name", "open"],
)
def test_a_config_with_python_tags_is_a_config_error_and_runs_nothing(
    tmp_path: Path, text: str, no_pickle: None
) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "config.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError, match="not valid YAML"):
        mlpact.load_config(path)
    assert not marker.exists()


def test_an_override_with_a_python_tag_is_only_text(tmp_path: Path, no_pickle: None) -> None:
    marker = tmp_path / "PWNED"
    path = write_config(tmp_path, IRIS)
    cfg = mlpact.load_config(path, [f"description=!!python/object/apply:os.system ['touch {marker}']"])
    assert cfg.description is not None and cfg.description.startswith("!!python")
    assert not marker.exists()


def test_a_version_config_with_python_tags_is_never_constructed(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    folder = _copy_version(source, tmp_path)
    marker = tmp_path / "PWNED"
    (folder / "config.yaml").write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    _rehash(folder)
    with pytest.raises(IntegrityError, match="config.yaml"):
        mlpact.load(folder)
    assert not marker.exists()


# --------------------------------------------------------------------------- code a config names
@pytest.mark.parametrize(
    "key, path, message",
    [
        ("model", "os.system", "is not an estimator"),
        ("model", "subprocess.Popen", "is not an estimator"),
        ("model", "builtins.eval", "is not an estimator"),
        ("custom", "os.system", "is not a transformer"),
        ("custom", "shutil.rmtree", "is not a transformer"),
        ("model", "no_such_module_anywhere.Model", "cannot import module"),
    ],
)
def test_a_config_naming_non_estimators_is_refused_before_anything_runs(
    tmp_path: Path, key: str, path: str, message: str, no_pickle: None
) -> None:
    cfg: dict[str, Any] = json.loads(json.dumps(IRIS))
    if key == "model":
        cfg["model"] = {"type": path}
    else:
        cfg["features"] = {"custom": [{"type": path}]}
    store = tmp_path / "store"
    with pytest.raises(ConfigError, match=message):
        mlpact.train(cfg, store=store)
    assert Store(store).versions() == []


@pytest.mark.parametrize(
    "named, trusted",
    [
        ("mypkg.features:AddRatios", ["mypkg.features:AddRatios"]),
        ("os.system", []),
        ("subprocess:Popen", []),
        ("builtins.eval", []),
        ("posix.system", []),
    ],
)
def test_only_names_outside_the_standard_library_extend_trust(named: str, trusted: list[str]) -> None:
    config = {"model": {"type": named}}
    assert import_paths(config) == trusted
    allowed = bundle.allowed_names().widened([*import_paths(config), "os.system"])
    assert not allowed.allows("function", "os.system") and not allowed.allows("class", "posix.system")


def test_an_environment_value_with_a_python_tag_is_only_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_pickle: None
) -> None:
    marker = tmp_path / "PWNED"
    monkeypatch.setenv("MLPACT_TEST_DESCRIPTION", f"!!python/object/apply:os.system ['touch {marker}']")
    cfg = mlpact.load_config(
        write_config(tmp_path, {**IRIS, "description": "${env:MLPACT_TEST_DESCRIPTION}"})
    )
    assert cfg.description is not None and cfg.description.startswith("!!python")
    assert not marker.exists()


# --------------------------------------------------------------------------- crafted pipelines
# skops files written by hand (schema.json + members), the way an attacker writes them: each
# names a class whose construction or clean-up runs a command, deletes or truncates files, starts
# a thread or loads native code. Loading must refuse before anything is imported or built.
def _node(loader: str, name: str, **state: Any) -> dict[str, Any]:
    module, _, cls = name.rpartition(".")
    return {"__class__": cls, "__module__": module, "__loader__": loader, **state}


def _json(value: Any) -> dict[str, Any]:
    return _node("JsonNode", f"builtins.{type(value).__name__}", content=json.dumps(value), is_json=True)


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return _node("TupleNode", "builtins.tuple", content=list(items))


def _dict(**items: dict[str, Any]) -> dict[str, Any]:
    keys = _node("ListNode", "builtins.list", content=[_node("TypeNode", "builtins.str")] * len(items))
    return _node("DictNode", "builtins.dict", content=items, key_types=keys)


def _called(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A node skops rebuilds by calling `name` with `args`."""
    return _node("ConstructorFromReduceNode", name, content=_tuple(*args))


def _skops(root: dict[str, Any], members: dict[str, bytes] | None = None) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps({**root, "protocol": 2, "_skops_version": "0.16.0"}))
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


class _System:
    """Unpickling this runs a shell command (what NpzFile with allow_pickle does to a file's arrays)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> Any:
        return (os.system, (self.command,))


def _armed_npy(command: str) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array([_System(command)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _gadgets(sandbox: Path, pipeline: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (the class it names, the crafted pipeline.skops); every effect lands in `sandbox`."""
    armed = {"evil.npy": _armed_npy(f"touch {sandbox / 'RAN'}")}
    return {
        "NpzFile on the very file, allow_pickle": (
            "numpy.lib.npyio.NpzFile",
            _skops(
                _called("numpy.lib.npyio.NpzFile", _json(str(pipeline)), _json(False), _json(True)), armed
            ),
        ),
        "DataSource removes a directory": (
            "numpy.lib._datasource.DataSource",
            _skops(
                _node(
                    "ObjectNode",
                    "numpy.lib._datasource.DataSource",
                    content=_dict(_destpath=_json(str(sandbox / "keep")), _istmpdest=_json(True)),
                )
            ),
        ),
        "memmap w+ truncates a file": (
            "numpy.memmap",
            _skops(
                _called(
                    "numpy.memmap",
                    _json(str(sandbox / "data.bin")),
                    _json("uint8"),
                    _json("w+"),
                    _json(0),
                    _tuple(_json(4)),
                )
            ),
        ),
        "Thread re-exported by scikit-learn": (
            "sklearn.callback._progressbar.Thread",
            _skops(_called("sklearn.callback._progressbar.Thread")),
        ),
        "TemporaryDirectory re-exported by scikit-learn": (
            "sklearn.datasets._openml.TemporaryDirectory",
            _skops(
                _called(
                    "sklearn.datasets._openml.TemporaryDirectory",
                    _json("x"),
                    _json("tmp"),
                    _json(str(sandbox)),
                )
            ),
        ),
        "ctypes function pointer type in SciPy": (
            "scipy._lib._ccallback_c.plus1_t",
            _skops(_called("scipy._lib._ccallback_c.plus1_t", _json(0))),
        ),
        "ctypes integer re-exported by NumPy": (
            "numpy.ctypeslib.c_intp",
            _skops(_called("numpy.ctypeslib.c_intp", _json(7))),
        ),
        "pathlib.Path re-exported by mlpact": (
            "mlpact.version.bundle.Path",
            _skops(_called("mlpact.version.bundle.Path", _json(str(sandbox / "keep" / "file.txt")))),
        ),
        "a class in numpy.f2py.__main__ (importing it runs f2py)": (
            "numpy.f2py.__main__.X",
            _skops(_node("ObjectNode", "numpy.f2py.__main__.X")),
        ),
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """What the gadgets aim at: a directory with a file, and a file with content."""
    box = tmp_path / "sandbox"
    (box / "keep").mkdir(parents=True)
    (box / "keep" / "file.txt").write_text("precious")
    (box / "data.bin").write_bytes(b"precious data")
    return box


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """skops must not be asked to build anything: its load raises for the whole test."""
    sio = bundle.import_skops()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _Pickled("skops.io.load was called on a crafted file")

    monkeypatch.setattr(sio, "load", refuse)


def _crafted_folder(source: dict[str, Any], tmp_path: Path, pipeline: bytes, names: list[str]) -> Path:
    """A version folder with a crafted pipeline, rehashed, its manifest vouching for the names."""
    folder = _copy_version(source, tmp_path)
    (folder / bundle.PIPELINE).write_bytes(pipeline)
    _rehash(folder, trusted_types=names)
    return folder


def _crafted_archive(folder: Path, dst: Path, names: list[str]) -> Path:
    """An export of `folder` whose mlpact-export.json prints the right digest (the attacker can)."""
    meta = {"format": 1, "name": "iris", "version": 1, "digest": bundle.manifest_digest(folder),
            "trusted_types": names}  # fmt: skip
    members = [(tarfile.TarInfo(EXPORT_META), json.dumps(meta).encode())]
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            members.append(
                (tarfile.TarInfo(f"version/{path.relative_to(folder).as_posix()}"), path.read_bytes())
            )
    for info, data in members:
        info.size = len(data)
    return _archive(dst, members)


GADGETS = list(_gadgets(Path("/sandbox"), Path("/pipeline.skops")))


@pytest.mark.parametrize("gadget", GADGETS)
def test_a_crafted_gadget_loaded_by_path_is_refused_before_anything_is_built(
    source: dict[str, Any], tmp_path: Path, sandbox: Path, gadget: str, never_built: None, no_pickle: None
) -> None:
    import sys

    folder = tmp_path / "version"
    name, pipeline = _gadgets(sandbox, folder / bundle.PIPELINE)[gadget]
    _crafted_folder(source, tmp_path, pipeline, [name])
    module = name.rpartition(".")[0]
    before, imported = _snapshot(sandbox), module in sys.modules
    with pytest.raises(UntrustedTypesError, match=re.escape(name)):
        mlpact.load(folder)
    assert (module in sys.modules) == imported  # checked as a string: nothing was imported to ask
    with pytest.raises(UntrustedTypesError, match=re.escape(name)):
        mlpact.load(folder, trust=[name])  # even trusting it explicitly does not make it safe
    assert _snapshot(sandbox) == before and not (sandbox / "RAN").exists()


@pytest.mark.parametrize("gadget", GADGETS)
def test_a_crafted_gadget_in_an_archive_is_refused_by_models_import(
    source: dict[str, Any], tmp_path: Path, sandbox: Path, gadget: str, never_built: None, no_pickle: None
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app
    from mlpact.errors import ExitCode

    folder = tmp_path / "version"
    name, pipeline = _gadgets(sandbox, folder / bundle.PIPELINE)[gadget]
    archive = _crafted_archive(
        _crafted_folder(source, tmp_path, pipeline, [name]), tmp_path / "x.tar.gz", [name]
    )
    digest = bundle.manifest_digest(folder)
    before = _snapshot(sandbox)
    store = tmp_path / "store"
    result = CliRunner().invoke(
        app, ["models", "import", str(archive), "--store", str(store), "--expect-digest", digest]
    )
    assert result.exit_code == ExitCode.INTEGRITY, result.output
    assert name in " ".join(result.output.split()) and "Traceback" not in result.output
    assert _snapshot(sandbox) == before and not (sandbox / "RAN").exists()
    assert _leftovers(store) == [] and Store(store).versions() == []


@pytest.mark.parametrize("gadget", [g for g in GADGETS if "f2py" not in g])
def test_each_crafted_gadget_is_armed(tmp_path: Path, sandbox: Path, gadget: str) -> None:
    """Rebuilt by skops told to trust its names (what the old prefix rule let through), each
    crafted file does what it claims: the refusals above are not refusals of harmless files."""
    import gc
    import threading

    sio = bundle.import_skops()
    path = tmp_path / "pipeline.skops"
    _, pipeline = _gadgets(sandbox, path)[gadget]
    path.write_bytes(pipeline)
    built = sio.load(path, trusted=sorted(sio.get_untrusted_types(file=path)))
    effects = {
        "NpzFile on the very file, allow_pickle": lambda: (
            built["evil"] is not None and (sandbox / "RAN").exists()
        ),
        "memmap w+ truncates a file": lambda: (sandbox / "data.bin").read_bytes() == bytes(4),
        "Thread re-exported by scikit-learn": lambda: isinstance(built, threading.Thread),
        "TemporaryDirectory re-exported by scikit-learn": lambda: any(sandbox.glob("tmp*x")),
        "ctypes function pointer type in SciPy": lambda: type(built).__mro__[1].__module__ == "_ctypes",
        "ctypes integer re-exported by NumPy": lambda: built.value == 7,
        "pathlib.Path re-exported by mlpact": lambda: type(built).__module__ == "pathlib",
    }
    if gadget == "DataSource removes a directory":
        del built
        gc.collect()
        assert not (sandbox / "keep").exists()
    else:
        assert effects[gadget]()


def test_allowed_classes_given_values_they_cannot_take_are_integrity_errors(
    source: dict[str, Any], tmp_path: Path, no_pickle: None
) -> None:
    """Only allowlisted names, but state no fitted model has (a list where a dict belongs): a
    typed refusal from load-by-path and from `models import`, never an 'Unexpected error'."""
    from typer.testing import CliRunner

    from mlpact.cli import app
    from mlpact.errors import LibraryVersionError

    state = _node("ListNode", "builtins.list", content=[_json(1), _json(2)])
    pipeline = _skops(_node("ObjectNode", "sklearn.linear_model._logistic.LogisticRegression", content=state))
    folder = _crafted_folder(source, tmp_path, pipeline, [])
    with pytest.raises(
        LibraryVersionError, match="cannot be rebuilt although it was saved with the scikit-learn"
    ):
        mlpact.load(folder)
    archive = _crafted_archive(folder, tmp_path / "x.tar.gz", [])
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["models", "import", str(archive), "--store", str(store)])
    assert result.exit_code == 6 and "its pipeline cannot be rebuilt and used here" in " ".join(
        result.output.split()
    )
    assert "Unexpected error" not in result.output and _leftovers(store) == []


# --------------------------------------------------------------------------- any crafted schema
_PARTS = st.sampled_from(["sklearn", "numpy", "scipy", "mlpact", "builtins", "os", "lib", "npyio", "tree",
                          "_tree", "f2py", "__main__", "random", "Thread", "Path", "Tree", "NpzFile", "system"])  # fmt: skip
_IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_LOADERS = st.sampled_from(
    ["ObjectNode", "ConstructorFromReduceNode", "ReduceNode", "TreeNode", "LossNode", "FunctionNode",
     "TypeNode", "MethodNode", "OperatorFuncNode", "PartialNode", "TupleNode", "ListNode", "DictNode",
     "SetNode", "NdArrayNode", "SparseMatrixNode", "DTypeNode", "RandomStateNode", "BytesNode"]
) | st.text(max_size=12)  # fmt: skip


@st.composite
def _crafted_nodes(draw: st.DrawFn, sandbox: Path) -> tuple[str, dict[str, Any]]:
    """A node naming a random dotted name, somewhere in an otherwise plain tree."""
    name = ".".join(draw(st.lists(_PARTS | _IDENT, min_size=2, max_size=5)))
    args = [_json(str(sandbox / "keep")), _json("w+"), _json(True)][: draw(st.integers(0, 3))]
    node = _node(draw(_LOADERS), name, content=_tuple(*args), func="unlink", type="numpy", file="x.npy")
    where = draw(st.sampled_from(["root", "list", "dict", "tuple"]))
    wrapped = {"root": node, "list": _node("ListNode", "builtins.list", content=[_json(1), node]),
               "dict": _dict(model=node), "tuple": _tuple(_json("x"), node)}[where]  # fmt: skip
    return name, wrapped


@given(data=st.data())
def test_any_crafted_schema_naming_a_class_off_the_allowlist_is_refused_before_anything_is_built(
    source: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, never_built: None, data: st.DataObject
) -> None:
    import sys

    tmp = tmp_path_factory.mktemp("crafted")
    box = tmp / "sandbox"
    (box / "keep").mkdir(parents=True)
    (box / "keep" / "file.txt").write_text("precious")
    name, root = data.draw(_crafted_nodes(box))
    assume(not bundle.allowed_names().knows(name))
    folder = _crafted_folder(source, tmp, _skops(root, {"x.npy": b"\x93NUMPY"}), [name])
    module = name.rpartition(".")[0]
    before, imported = _snapshot(box), module in sys.modules
    with pytest.raises(IntegrityError):  # UntrustedTypesError, or a node mlpact never writes
        mlpact.load(folder, trust=[])
    assert _snapshot(box) == before and (module in sys.modules) == imported
