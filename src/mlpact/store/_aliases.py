"""Aliases: movable names for versions (`production`, `staging`, ...) and their history."""

from __future__ import annotations

import sqlite3
from typing import Any

from mlpact.errors import NotFoundError, StoreError
from mlpact.store._db import check_name, current_user, now
from mlpact.store._versions import Versions


class Aliases(Versions):
    """Moving aliases, rolling them back, and the record of every move."""

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        action: str = "promote",
        user: str | None = None,
    ) -> int | None:
        """Point `name@alias` at a version and record the move. Returns the previous holder.

        `user` is who moved it (default: the operating-system user of this process). The
        version's status is checked in the same transaction that moves the alias, so an
        `archive` or purge racing this call either sees the alias (and refuses) or is seen.

        Raises:
            StoreError: the alias name is invalid, or the version is not active.
            NotFoundError: the version does not exist.
        """
        check_name(alias, what="alias")
        with self._write() as db:  # the status is read in the transaction that moves the alias
            row = db.execute(
                "SELECT status FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if row is None:
                raise self._missing_version(db, name, version)
            if row["status"] != "active":
                raise StoreError(
                    f"{name}:{version} is {row['status']}; only active versions can hold an alias.",
                    hint=f"Restore it first with `mlpact models restore {name}:{version}`."
                    if row["status"] == "archived"
                    else None,
                )
            return self._move(db, name, alias, version, reason=reason, action=action, user=user)

    def _move(
        self,
        db: sqlite3.Connection,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None,
        action: str,
        user: str | None = None,
    ) -> int | None:
        row = db.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
        previous = int(row["version"]) if row else None
        if previous == version:  # already there: not a move
            return previous
        self._record_move(db, name, alias, version, previous, reason=reason, action=action, user=user)
        return previous

    @staticmethod
    def _record_move(
        db: sqlite3.Connection,
        name: str,
        alias: str,
        version: int,
        previous: int | None,
        *,
        reason: str | None,
        action: str,
        time: str | None = None,
        user: str | None = None,
    ) -> None:
        """Point the alias and log the move (`time`, `user`: a move replayed from a team store)."""
        when = time or now()
        db.execute(
            "INSERT INTO aliases (name, alias, version, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, updated = excluded.updated",
            (name, alias, version, when),
        )
        db.execute(
            "INSERT INTO alias_events (name, alias, version, previous, time, user, reason, action) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, alias, version, previous, when, user or current_user(), reason, action),
        )

    def rollback_alias(
        self, name: str, alias: str, *, reason: str | None = None, user: str | None = None
    ) -> tuple[int, int]:
        """Move an alias back to the version that held it before the current one.

        Rolling back twice goes back two holders (promotions push, rollbacks pop).

        Returns:
            (version it now points to, version it pointed to before).

        Raises:
            NotFoundError: the model or the alias does not exist, or there is no earlier holder.
            StoreError: the earlier holder is no longer active.
        """
        check_name(alias, what="alias")
        with self._write() as db:
            if db.execute("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (name,)).fetchone() is None:
                raise self._missing_model(db, name)
            stack = self._holders(db, name, alias)
            if not stack:
                known = sorted(r[0] for r in db.execute("SELECT alias FROM aliases WHERE name = ?", (name,)))
                listed = f"its aliases: {', '.join(known)}" if known else "it has no aliases yet"
                raise NotFoundError(
                    f"Model {name!r} has no alias {alias!r} to roll back; {listed}.",
                    hint=f"`mlpact models history {name}` shows every alias move; "
                    f"`mlpact models promote {name}:VERSION {alias}` sets one.",
                )
            if len(stack) < 2:
                raise NotFoundError(
                    f"{name}@{alias} has had only one holder ({name}:{stack[-1]}); there is no earlier "
                    "version to roll back to.",
                    hint=f"Point it at another version with `mlpact models promote {name}:VERSION {alias}`.",
                )
            current, target = stack[-1], stack[-2]
            row = db.execute(
                "SELECT status FROM versions WHERE name = ? AND version = ?", (name, target)
            ).fetchone()
            if row is None or row["status"] != "active":
                status = row["status"] if row else "missing"
                raise StoreError(
                    f"Cannot roll {name}@{alias} back to {name}:{target}: that version is {status}."
                )
            self._move(
                db,
                name,
                alias,
                target,
                reason=reason or f"rollback from {current}",
                action="rollback",
                user=user,
            )
        return target, current

    def _holders(self, db: sqlite3.Connection, name: str, alias: str) -> list[int]:
        stack: list[int] = []
        for ev in db.execute(
            "SELECT version, action FROM alias_events WHERE name = ? AND alias = ? ORDER BY id", (name, alias)
        ):
            if ev["action"] == "rollback":
                stack.pop()
            else:
                stack.append(int(ev["version"]))
        return stack

    def record_status(
        self, name: str, version: int, status: str, *, reason: str | None = None, user: str | None = None
    ) -> None:
        """Log an archive, purge or restore in the model's history beside its alias moves (alias
        '' and action = the new status: it moves no alias, so no alias's rollback sees it)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO alias_events (name, alias, version, previous, time, user, reason, action) "
                "VALUES (?, '', ?, NULL, ?, ?, ?, ?)",
                (name, version, now(), user or current_user(), reason, status),
            )

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias move of a model (or one alias), oldest first: time, user, reason, versions;
        for the whole model also its archives, purges and restores (alias '')."""
        query, args = "SELECT * FROM alias_events WHERE name = ?", [name]
        if alias is not None:
            query, args = query + " AND alias = ?", [name, alias]
        with self._read() as db:
            return [dict(r) for r in db.execute(query + " ORDER BY id", args)]

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        """Current aliases of a model: alias -> {version, since}."""
        with self._read() as db:
            rows = db.execute(
                "SELECT alias, version, updated FROM aliases WHERE name = ? ORDER BY alias", (name,)
            )
            return {r["alias"]: {"version": r["version"], "since": r["updated"]} for r in rows}
