"""The `serve:` section: how `mlpact serve` answers (limits, alias polling, CORS, auth, the
prediction log). Saved with each version like every section, but not part of the config hash:
none of it changes a trained model. `mlpact serve` flags override it."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from mlpact.config._base import Section

# A host name or IP literal as it appears in a Host header, without the port; `*.` for subdomains.
_HOST_NAME = re.compile(r"(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\]")


class CorsConfig(Section):
    """Cross-origin browser requests (FastAPI's CORSMiddleware); off while `origins` is empty."""

    origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the server from a browser (e.g. `https://app.example`); "
        "`*` allows any. Empty: CORS is off.",
    )
    methods: list[str] = Field(default_factory=lambda: ["GET", "POST"], description="Allowed methods.")
    headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "X-Request-ID"],
        description="Request headers a browser may send.",
    )
    credentials: bool = Field(False, description="Allow cookies and credentials on cross-origin requests.")


class AuthConfig(Section):
    """Bearer-token authentication; on when a token file or the environment variable gives tokens."""

    token_file: str | None = Field(
        None,
        description="A file of accepted tokens, one per line (blank lines and `#` comments ignored); "
        "relative to the current directory; re-read when it changes, so tokens rotate without a "
        "restart.",
    )
    token_env: str = Field(
        "MLPACT_SERVE_TOKENS",
        description="An environment variable of accepted tokens, comma-separated; used with or "
        "without `token_file`.",
    )


class PredictionLogConfig(Section):
    """An opt-in log of the validated input rows and their predictions, for `mlpact check`."""

    path: str | None = Field(
        None,
        description="A folder for the log's Parquet files (relative to the current directory); "
        "`mlpact check MODEL FOLDER` reads it as new data. Empty: no log.",
    )
    redact: list[str] = Field(
        default_factory=list,
        description="Input columns whose values are replaced by a keyed hash (HMAC-SHA256, key from "
        "`hash_key_env`): equal values stay equal, the values themselves are not written.",
    )
    drop: list[str] = Field(default_factory=list, description="Input columns left out of the log.")
    hash_key_env: str = Field(
        "MLPACT_LOG_HASH_KEY",
        description="Environment variable holding the key for `redact`; unset: a random key per "
        "server start (hashes then match only within one run).",
    )
    flush_rows: int = Field(1000, ge=1, description="Write buffered rows once this many are waiting.")
    flush_seconds: float = Field(5.0, gt=0, description="Write buffered rows at least this often.")
    rotate_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Start a new file once the current one reaches this size."
    )
    rotate_seconds: float = Field(3600.0, gt=0, description="Start a new file at least this often.")
    max_queue_rows: int = Field(
        100_000,
        ge=1,
        description="Rows waiting to be written beyond this are dropped (and counted in /metrics) "
        "rather than slowing requests.",
    )


class ServeConfig(Section):
    """`mlpact serve`: request limits, alias polling, CORS, authentication and the prediction log."""

    max_rows: int = Field(10_000, ge=1, description="Most rows per request; more get a 413.")
    max_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest request body in bytes; larger gets a 413."
    )
    poll_interval: float = Field(
        2.0,
        ge=0,
        description="Seconds between checks of the store when serving NAME@ALIAS; 0 turns it off.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (no port) that requests may address besides the loopback names "
        "(`localhost`, `127.0.0.1`, `[::1]`) and, on a non-loopback interface, IP addresses; "
        "`*.example.com` for subdomains, `*` for any. Checked while authentication is off, or "
        "whenever names are listed here: a web page cannot reach the server by DNS rebinding.",
    )
    cors: CorsConfig = Field(default_factory=CorsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, values: list[str]) -> list[str]:
        bad = sorted(v for v in values if v != "*" and not _HOST_NAME.fullmatch(v))
        if bad:
            raise ValueError(
                f"expected host names without scheme or port (`api.example.com`, `*.example.com`, "
                f"`10.0.0.5`, `[fd00::1]` or `*`); got {bad!r}"
            )
        return [v.lower().rstrip(".") for v in values]
