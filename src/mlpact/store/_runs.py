"""Runs (every training, succeeded or failed) and evaluations of existing versions."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from mlpact.errors import NotFoundError
from mlpact.store._db import now
from mlpact.store._versions import Versions


class Runs(Versions):
    """The run history and the evaluations recorded against versions."""

    def start_run(
        self,
        name: str,
        *,
        kind: str = "train",
        config_hash: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        """Record a run as running; returns its id."""
        run_id = uuid.uuid4().hex[:12]
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (id, name, kind, status, started, config_hash, params) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, name, kind, now(), config_hash, json.dumps(params or {}, default=str)),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        version: int | None = None,
    ) -> None:
        """Mark a run succeeded or failed, with its metrics, error and produced version."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = ?, ended = ?, metrics = ?, error = ?, version = ? WHERE id = ?",
                (status, now(), json.dumps(metrics or {}, default=str), error, version, run_id),
            )

    def log_metric(self, run_id: str, key: str, value: float, *, step: int | None = None) -> None:
        """Record one value of a running run's metric (its history keeps every step; the run's
        metrics hold the latest value)."""
        with self._write() as db:
            row = db.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"No run {run_id!r}.")
            latest = {**json.loads(row["metrics"] or "{}"), key: value}
            db.execute("UPDATE runs SET metrics = ? WHERE id = ?", (json.dumps(latest, default=str), run_id))
            db.execute(
                "INSERT INTO run_metrics (run_id, key, step, value, time) VALUES (?, ?, ?, ?, ?)",
                (run_id, key, step, value, now()),
            )

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Add (or replace) parameters of a run."""
        with self._write() as db:
            row = db.execute("SELECT params FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"No run {run_id!r}.")
            merged = {**json.loads(row["params"] or "{}"), **params}
            db.execute("UPDATE runs SET params = ? WHERE id = ?", (json.dumps(merged, default=str), run_id))

    def metric_history(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every logged value of a run's metrics, by key, in logging order."""
        with self._read() as db:
            rows = db.execute(
                "SELECT key, step, value, time FROM run_metrics WHERE run_id = ? ORDER BY rowid", (run_id,)
            ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r["key"], []).append({"step": r["step"], "value": r["value"], "time": r["time"]})
        return out

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        """Runs, newest first."""
        query, args = "SELECT * FROM runs", []
        if name is not None:
            query, args = query + " WHERE name = ?", [name]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY started DESC, rowid DESC", args).fetchall()
        return [_run_dict(r) for r in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        """One run by id, or by a unique prefix of at least 4 characters (like git)."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM runs WHERE id LIKE ? || '%'", (run_id,)).fetchall()
        exact = [r for r in rows if r["id"] == run_id]
        if exact:
            return _run_dict(exact[0])
        if len(run_id) >= 4 and len(rows) == 1:
            return _run_dict(rows[0])
        if len(rows) > 1:
            ids = ", ".join(sorted(r["id"] for r in rows)[:5])
            raise NotFoundError(f"Run id {run_id!r} is ambiguous: it starts {len(rows)} runs ({ids}).")
        raise NotFoundError(f"No run {run_id!r}.", hint="`mlpact runs list` shows run ids.")

    # ----------------------------------------------------------------------- evaluations
    def evaluation_dir(self) -> Path:
        """A fresh folder under evaluations/ for an evaluation's files (plots, report)."""
        self._ensure()
        path = self.root / "evaluations" / uuid.uuid4().hex[:12]
        path.mkdir(parents=True)
        return path

    def add_evaluation(
        self,
        name: str,
        version: int,
        *,
        data: str,
        metrics: dict[str, Any],
        data_fingerprint: str | None = None,
        rows: int | None = None,
        path: Path | None = None,
    ) -> str:
        """Record an evaluation of an existing version on new labelled data; returns its id.

        Evaluations never change the version itself (versions are immutable); they are listed
        beside it by `models show`.
        """
        self.get(name, version)
        eval_id = path.name if path is not None else uuid.uuid4().hex[:12]
        rel = path.relative_to(self.root).as_posix() if path is not None else None
        with self._write() as db:
            db.execute(
                "INSERT INTO evaluations (id, name, version, created, data, data_fingerprint, rows, "
                "metrics, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    eval_id,
                    name,
                    version,
                    now(),
                    data,
                    data_fingerprint,
                    rows,
                    json.dumps(metrics, default=str),
                    rel,
                ),
            )
        return eval_id

    def evaluations(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Evaluations of a model (or one version), newest first."""
        query = "SELECT * FROM evaluations WHERE name = ?"
        args: list[Any] = [name]
        if version is not None:
            query, args = query + " AND version = ?", [name, version]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY created DESC, rowid DESC", args).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["metrics"] = json.loads(item["metrics"])
            item["path"] = str(self.root / item["path"]) if item["path"] else None
            out.append(item)
        return out


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(out["params"] or "{}")
    out["metrics"] = json.loads(out["metrics"] or "{}")
    return out
