"""Remote storage against a local S3 server (moto): URL data sources, URL predict input and
output, and the team store (artifacts and registry in a bucket shared by two machines)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from tests.conftest import wine_config, write_config  # noqa: E402

import mlpact  # noqa: E402
from mlpact import bundle, registry  # noqa: E402
from mlpact.cli import app  # noqa: E402
from mlpact.data import fingerprint  # noqa: E402
from mlpact.errors import DataError, InputValidationError, IntegrityError, NotFoundError, StoreError  # noqa: E402
from mlpact.portable import export_version, import_version  # noqa: E402
from mlpact.store import Store  # noqa: E402
from mlpact.store._remote import RemoteStore, connect  # noqa: E402


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A local S3 server for this module; yields its endpoint URL. Credentials are dummies."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,  # for commands given bare s3:// URLs (predict, check)
        }.items():
            mp.setenv(key, value)
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def bucket(s3: str) -> str:
    """A fresh bucket per test: `s3://NAME`."""
    import fsspec

    name = f"t-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", endpoint_url=s3, skip_instance_cache=True).mkdir(name)
    return f"s3://{name}"


def _fs(s3: str) -> Any:
    import fsspec

    return fsspec.filesystem("s3", endpoint_url=s3)


def _fast(**overrides: Any) -> dict[str, Any]:
    return wine_config(evaluate={"cv_folds": 2, "baseline": False, "leakage": False}, **overrides)


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame


def _put_frame(s3: str, url: str, frame: pd.DataFrame) -> bytes:
    data = frame.to_parquet(index=False) if url.endswith(".parquet") else frame.to_csv(index=False).encode()
    _fs(s3).pipe_file(url, data)
    return data


# --------------------------------------------------------------------------- data sources
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_training_reads_an_s3_source_and_fingerprints_its_bytes(
    s3: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    url = f"{bucket}/data/wine.{suffix}"
    data = _put_frame(s3, url, _wine())
    monkeypatch.setenv("TEST_S3_ENDPOINT", s3)
    remote_cfg = _fast(
        data={
            "source": url,
            "target": "target",
            "storage_options": {"endpoint_url": "${env:TEST_S3_ENDPOINT}"},
        }
    )
    result = mlpact.train(write_config(tmp_path, remote_cfg), store=tmp_path / "store")
    lineage = json.loads((result.path / "lineage.json").read_text())["data"]
    assert lineage["source"] == url
    # the sha256 of the object's bytes: what the same file on disk hashes to
    assert lineage["file_sha256"] == hashlib.sha256(data).hexdigest()
    read = pd.read_parquet(io.BytesIO(data)) if suffix == "parquet" else pd.read_csv(io.BytesIO(data))
    assert lineage["fingerprint"] == fingerprint(read)
    saved = (result.path / "config.yaml").read_text()
    assert "${env:TEST_S3_ENDPOINT}" in saved and s3 not in saved  # options are redacted


def test_storage_options_do_not_change_the_config_hash() -> None:
    from mlpact.config import load_config

    plain = load_config(wine_config(data={"source": "s3://b/wine.parquet"}))
    other = load_config(
        wine_config(data={"source": "s3://b/wine.parquet", "storage_options": {"anon": True}})
    )
    moved = load_config(wine_config(data={"source": "s3://b/other.parquet"}))
    assert plain.hash() == other.hash() != moved.hash()


def test_a_missing_object_is_a_data_error_naming_it(s3: str, bucket: str) -> None:
    from mlpact.data import read_table

    with pytest.raises(DataError, match=r"Data file 's3://.*/nope.parquet' does not exist"):
        read_table(f"{bucket}/nope.parquet")


# --------------------------------------------------------------------------- predict and check
def test_predict_streams_from_s3_to_s3_and_matches_a_local_run(
    s3: str, bucket: str, trained_wine: dict[str, Any], tmp_path: Path
) -> None:
    frame = trained_wine["frame"].drop(columns="target")
    _put_frame(s3, f"{bucket}/in.parquet", frame)
    out = f"{bucket}/out/scores.parquet"
    args = ["predict", trained_wine["ref"], f"{bucket}/in.parquet", "-o", out, "--chunk-rows", "50"]
    result = CliRunner().invoke(app, [*args, "--store", str(trained_wine["store"]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == out
    got = pd.read_parquet(out)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    mlpact.predict_file(model, tmp_path / "in.parquet", tmp_path / "want.parquet")
    pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / "want.parquet"))


def test_predict_writes_nothing_to_s3_when_the_input_is_invalid(
    s3: str, bucket: str, trained_wine: dict[str, Any]
) -> None:
    frame = trained_wine["frame"].drop(columns=["target", "alcohol"])
    _put_frame(s3, f"{bucket}/bad.csv", frame)
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    with pytest.raises(InputValidationError, match="alcohol"):
        mlpact.predict_file(model, f"{bucket}/bad.csv", f"{bucket}/out.csv")
    assert not _fs(s3).exists(f"{bucket}/out.csv")


def test_check_reads_new_data_from_s3(s3: str, bucket: str, trained_wine: dict[str, Any]) -> None:
    from mlpact.check import check_data

    _put_frame(s3, f"{bucket}/new.parquet", trained_wine["frame"])
    result = check_data(trained_wine["ref"], f"{bucket}/new.parquet", store=trained_wine["store"])
    # read from the bucket: all 178 rows, too few to rule out a change against a 142-row split
    assert (result.rows, result.verdict) == (178, "inconclusive"), result.reasons


# --------------------------------------------------------------------------- the team store
def _machines(s3: str, bucket: str, tmp_path: Path) -> tuple[RemoteStore, RemoteStore]:
    """Two machines: two local store folders sharing one bucket prefix."""
    options = {"endpoint_url": s3}
    return connect(tmp_path / "a", f"{bucket}/team", options), connect(
        tmp_path / "b", f"{bucket}/team", options
    )


def _register(store: Store, name: str = "m", payload: str = "x") -> Any:
    tmp = store.new_tmp_dir()
    (tmp / "data.txt").write_text(payload)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        bundle.write_manifest(directory, {"name": name, "version": version}, bundle.hash_files(directory))
        return {"digest": bundle.manifest_digest(directory), "metric_name": "acc", "metric_value": 0.5}

    return store.register(name, tmp, finalize)


def test_two_machines_train_into_one_bucket_and_see_each_others_versions_and_aliases(
    s3: str, bucket: str, tmp_path: Path
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    config = write_config(tmp_path, _fast())
    first = mlpact.train(config, store=a)
    second = mlpact.train(config, store=b)
    assert (first.version.version, second.version.version) == (1, 2)
    assert [r.version for r in a.versions("wine")] == [1, 2]
    # B loads A's version: downloaded into B's folder, verified, predicts like A's
    model = mlpact.load("wine:1", store=b)
    assert model.path == tmp_path / "b" / "models" / "wine" / "1"
    rows = _wine().drop(columns="target").head(5)
    assert list(model.predict(rows)) == list(mlpact.load("wine:1", store=a).predict(rows))
    # the trust root travels with the index row: B trusts exactly what A recorded at save time
    assert b.get("wine", 1).trusted_paths == a.get("wine", 1).trusted_paths is not None
    assert b.get("wine", 1).digest == a.get("wine", 1).digest
    registry.promote("wine:2", "production", reason="better", store=a)
    assert b.resolve("wine@production").version == 2
    registry.promote("wine:1", "production", store=b)
    assert registry.rollback("wine", "production", store=a).version == 2
    assert b.resolve("wine@production").version == 2
    history = [(e["version"], e["action"], e["reason"]) for e in b.alias_history("wine", "production")]
    assert history == [(2, "promote", "better"), (1, "promote", None), (2, "rollback", "rollback from 1")]
    assert history == [
        (e["version"], e["action"], e["reason"]) for e in a.alias_history("wine", "production")
    ]
    registry.archive("wine:1", store=b)
    assert [r.version for r in a.versions("wine")] == [2]


def test_concurrent_writers_never_share_a_number_or_lose_an_alias_move(
    s3: str, bucket: str, tmp_path: Path
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    errors: list[BaseException] = []

    def work(store: RemoteStore, payload: str) -> None:
        try:
            for _ in range(3):
                record = _register(store, payload=payload)
                store.set_alias("m", "live", record.version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, p)) for s, p in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = a.versions("m")
    assert [r.version for r in versions] == [1, 2, 3, 4, 5, 6]
    assert [r.version for r in b.versions("m")] == [1, 2, 3, 4, 5, 6]
    # b's own records: a record of store a names a's folder, which b refuses to read as its own
    assert sorted(b.local_dir(r).joinpath("data.txt").read_text() for r in b.versions("m")) == list("aaabbb")
    moves = [e["version"] for e in a.alias_history("m", "live")]
    assert sorted(moves) == [1, 2, 3, 4, 5, 6]
    assert moves == [e["version"] for e in b.alias_history("m", "live")]
    assert a.resolve("m@live").version == b.resolve("m@live").version == moves[-1]


def test_a_half_written_version_is_never_visible_and_its_number_is_not_reused(
    s3: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    _register(a)
    create = RemoteStore._create

    def crash_before_commit(self: RemoteStore, key: str, data: bytes) -> None:
        if "/versions/" in key:
            raise KeyboardInterrupt("power cut")
        create(self, key, data)

    monkeypatch.setattr(RemoteStore, "_create", crash_before_commit)
    with pytest.raises(KeyboardInterrupt):
        _register(a, payload="half")
    monkeypatch.setattr(RemoteStore, "_create", create)
    fs = _fs(s3)
    assert fs.exists(f"{bucket}/team/models/m/2/manifest.json")  # every file was uploaded ...
    assert [r.version for r in b.versions("m")] == [1]  # ... but no reader sees version 2
    with pytest.raises(NotFoundError, match="has no version 2"):
        b.resolve("m:2")
    assert b.garbage(older_than_s=0) == ["m:2"]
    assert _register(b).version == 3


def _index(store: Store) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.to_dict().items() if k != "path"} for r in store.versions(include_archived=True)
    ]


def test_a_team_store_index_is_a_cache_that_sync_and_rebuild_bring_back_alike(
    s3: str, bucket: str, tmp_path: Path
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    for payload in "xyz":
        _register(a, payload=payload)
    registry.promote("m:2", "live", store=a)
    registry.promote("m:3", "live", store=a)
    registry.archive("m:1", store=a)
    before, history = _index(b), b.alias_history("m")
    for suffix in ("", "-wal", "-shm"):  # b loses its index: not a refusal, the bucket has it all
        (b.root / f"mlpact.db{suffix}").unlink(missing_ok=True)
    fresh = Store.open(b.root)
    assert _index(fresh) == before and fresh.alias_history("m") == history
    done = registry.rebuild_index(store=fresh)
    assert (
        done.source == f"{bucket}/team" and done.backup is not None and done.indexed == ("m:1", "m:2", "m:3")
    )
    assert done.aliases == {"m": {"live": 3}} and done.lost == ()
    assert _index(fresh) == before and fresh.alias_history("m") == history  # trust as recorded, not rebuilt
    assert all(r["rebuilt"] is None for r in _index(fresh))
    assert _register(fresh).version == 4 and [r.version for r in a.versions("m")] == [2, 3, 4]
    with pytest.raises(StoreError, match="is a team store: its index is rebuilt from"):
        registry.rebuild_index(trust=["x.Y"], store=fresh)


def test_connect_refuses_a_folder_whose_lost_index_hid_local_versions(
    s3: str, bucket: str, tmp_path: Path
) -> None:
    local = Store(tmp_path / "c")
    _register(local)
    (tmp_path / "c" / "mlpact.db").unlink()
    with pytest.raises(StoreError, match="has no index"):
        connect(tmp_path / "c", f"{bucket}/team", {"endpoint_url": s3})
    assert not (tmp_path / "c" / "store.yaml").exists()
    assert (tmp_path / "c" / "models" / "m" / "1" / "data.txt").read_text() == "x"


@pytest.fixture(scope="module")
def wine_export(trained_wine: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's wine version as an export archive: a real version, without training again."""
    path = tmp_path_factory.mktemp("export") / "wine.tar.gz"
    return export_version(trained_wine["ref"], path, store=trained_wine["store"])


def test_a_file_changed_in_the_bucket_fails_verify_and_load(
    s3: str, bucket: str, tmp_path: Path, wine_export: Path
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    import_version(wine_export, name="wine", store=a)
    assert [c.ok for c in registry.verify(store=b)] == [True]
    _fs(s3).pipe_file(f"{bucket}/team/models/wine/1/metrics.json", b"{}")
    (check,) = registry.verify("wine:1", store=b)
    assert not check.ok and "metrics.json" in check.problem
    with pytest.raises(IntegrityError, match="changed: metrics.json"):
        mlpact.load("wine:1", store=b)


def test_export_and_import_through_a_team_store(
    s3: str, bucket: str, tmp_path: Path, wine_export: Path
) -> None:
    a, b = _machines(s3, bucket, tmp_path)
    import_version(wine_export, name="wine", store=a)
    archive = export_version("wine:1", tmp_path / "wine.tar.gz", store=b)
    imported = import_version(archive, name="wine-copy", store=b)
    assert imported.ref == "wine-copy:1"
    assert mlpact.load("wine-copy", store=a).metrics == mlpact.load("wine:1", store=a).metrics


def test_cli_connects_a_store_and_syncs_it(s3: str, bucket: str, tmp_path: Path) -> None:
    a = connect(tmp_path / "a", f"{bucket}/team", {"endpoint_url": s3})
    _register(a)
    runner = CliRunner()
    url = f"{bucket}/team"
    result = runner.invoke(
        app, ["store", "connect", url, "--store", str(tmp_path / "b"), "--option", f"endpoint_url={s3}"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["models", "list", "--store", str(tmp_path / "b"), "--json"])
    assert [v["ref"] for v in json.loads(result.stdout)] == ["m:1"]
    result = runner.invoke(app, ["store", "sync", "--store", str(tmp_path / "b"), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["url"] == url


def test_store_config_mistakes_are_store_errors(tmp_path: Path) -> None:
    from mlpact.errors import StoreError
    from mlpact.store._remote import team_store

    local = tmp_path / "local"
    _register(Store(local))
    with pytest.raises(StoreError, match="already holds local versions"):
        connect(local, "s3://bucket/team")
    with pytest.raises(StoreError, match="keeps its versions in its own folder"):
        team_store(local)
    with pytest.raises(StoreError, match="Expected an artifact root URL"):
        connect(tmp_path / "new", "bucket/team")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "store.yaml").write_text("artifacts: s3://b/p\nendpoint: x\n")
    with pytest.raises(StoreError, match=r"unknown keys: \['endpoint'\]"):
        Store.open(tmp_path / "bad")


def test_serving_from_a_team_store_follows_an_alias_moved_on_another_machine(
    s3: str, bucket: str, tmp_path: Path, wine_export: Path
) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import ModelHolder, create_app

    a, _ = _machines(s3, bucket, tmp_path)
    for _ in range(2):
        import_version(wine_export, name="wine", store=a)
    registry.promote("wine:1", "production", store=a)
    holder = ModelHolder("wine@production", store=tmp_path / "b")
    assert holder.model.version == 1
    records = _wine().drop(columns="target").head(2).to_dict(orient="records")
    response = TestClient(
        create_app("wine@production", store=tmp_path / "b"), base_url="http://localhost"
    ).post("/predict", json=records)
    assert response.status_code == 200, response.text
    registry.promote("wine:2", "production", store=a)
    assert holder.refresh() is True and holder.model.version == 2
