"""One output discipline (mlpact.cli._output): warnings at the CLI boundary, plural forms, ISO
dates, help text, wide tables in pipes, `--debug` anywhere.

The end-to-end tests run the installed `mlpact` script in a subprocess, as a user does: inside
pytest a warning is recorded by pytest, not printed, so only a real process shows what leaks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from conftest import free_port, wait_until_answers, wine_config, write_config
from mlpact.cli import app
from mlpact.cli._output import Gathered, gathered, iso, reflow
from mlpact.errors import InputWarning, plural

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MLPACT = str(Path(sys.executable).with_name("mlpact"))
SOURCE_PATH = re.compile(r"\.py:\d+")
RAW_CATEGORY = re.compile(r"\b\w+(Warning|Error):")  # UserWarning:, FutureWarning:, ...
runner = CliRunner()


# --------------------------------------------------------------------------- small functions
@pytest.mark.parametrize(
    "count, word, many, expected",
    [
        (0, "warning", None, "0 warnings"),
        (1, "warning", None, "1 warning"),
        (2, "warning", None, "2 warnings"),
        (1, "class", "classes", "1 class"),
        (3, "class", "classes", "3 classes"),
        (12345, "row", None, "12,345 rows"),
    ],
)
def test_plural(count: int, word: str, many: str | None, expected: str) -> None:
    assert plural(count, word, many) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-03-01T14:05:09.123456+00:00", "2026-03-01T14:05:09Z"),
        ("2026-03-01T15:05:09+01:00", "2026-03-01T14:05:09Z"),
        ("2026-03-01T14:05:09", "2026-03-01T14:05:09Z"),  # naive: mlpact writes UTC
        ("2026-03-01T14:05:09Z", "2026-03-01T14:05:09Z"),
        (1772373909.5, "2026-03-01T14:05:09Z"),  # epoch seconds
        (1772373909, "2026-03-01T14:05:09Z"),
        (datetime(2026, 3, 1, 15, 5, 9, tzinfo=timezone(timedelta(hours=1))), "2026-03-01T14:05:09Z"),
        (None, ""),
        ("", ""),
    ],
)
def test_iso(value: Any, expected: str) -> None:
    assert iso(value) == expected


def test_reflow_joins_prose_and_keeps_examples() -> None:
    doc = """Predict every row.

    The input is checked first: missing columns
    stop the run.

    [bold]Examples[/]

      mlpact predict wine data.csv -o out.csv

      mlpact predict churn x.parquet
        --keep id
    """
    assert reflow(doc) == (
        "Predict every row.\n\nThe input is checked first: missing columns stop the run.\n\n"
        "[bold]Examples[/]\n\n  mlpact predict wine data.csv -o out.csv\n\n"
        "  mlpact predict churn x.parquet\n    --keep id"
    )


# --------------------------------------------------------------------------- the warning gate
class LibraryNoise(FutureWarning):
    """Stands for a library's deprecation notice (its module is not mlpact's)."""


LibraryNoise.__module__ = "somelib.utils"


def test_warnings_are_shown_once_with_a_count_and_noise_is_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with gathered(debug=False):
        for _ in range(3):
            warnings.warn("proline: 1 value outside the training range", InputWarning, stacklevel=1)
        warnings.warn("`x` is deprecated and will be removed", LibraryNoise, stacklevel=1)
        warnings.warn("once", InputWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "Warning: proline: 1 value outside the training range (x3)",
        "Warning: once",
    ]


def test_debug_shows_every_warning_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    with gathered(debug=True):
        warnings.warn("`x` is deprecated", LibraryNoise, stacklevel=1)
    err = capsys.readouterr().err
    assert "Warning: `x` is deprecated [somelib.utils.LibraryNoise at" in err
    assert SOURCE_PATH.search(err), err


def test_actionable_library_warnings_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.exceptions import ConvergenceWarning

    with gathered(debug=False):
        warnings.warn("lbfgs failed to converge; increase max_iter", ConvergenceWarning, stacklevel=1)
    assert capsys.readouterr().err == "Warning: lbfgs failed to converge; increase max_iter\n"


def test_library_log_records_are_kept_from_the_console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    monkeypatch.setattr(logging.root, "handlers", [])  # as in the CLI: nothing configured logging
    with gathered(debug=False) as into:
        logging.getLogger("somelib").warning("a cache is cold")  # would reach the last resort
        logging.getLogger("mlpact.test").warning("mlpact's own record prints as before")
    err = capsys.readouterr().err
    assert err == "mlpact's own record prints as before\n"
    assert ("log:somelib", "a cache is cold") in into.seen


def test_live_mode_shows_a_warning_when_it_first_comes_then_its_repeats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    into = Gathered(live=True)
    into.add(InputWarning, "unseen category 'purple'")
    assert capsys.readouterr().err == "Warning: unseen category 'purple'\n"
    into.add(InputWarning, "unseen category 'purple'")
    into.add(InputWarning, "unseen category 'purple'")
    into.flush()
    assert capsys.readouterr().err == "Warning: unseen category 'purple' (x3 in all)\n"


def test_distinct_warnings_are_bounded() -> None:
    into = Gathered()
    for i in range(1000):
        into.add(InputWarning, f"row {i}")
    assert len(into.seen) == 200


# --------------------------------------------------------------------------- through the real CLI
def mlpact(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `mlpact` script; fail on a leaked Python warning or source path."""
    result = subprocess.run(
        [MLPACT, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        timeout=600,
    )
    assert_clean(result.stdout + result.stderr)
    return result


def assert_clean(output: str) -> None:
    for line in output.splitlines():
        assert not SOURCE_PATH.search(line), f"a Python source path reached the user:\n{output}"
        assert not RAW_CATEGORY.search(line), f"a raw warning or error class reached the user:\n{output}"
        if "warning" in line.lower() and "Warning" in line:
            assert line.lstrip().startswith("Warning: "), f"a warning not in mlpact's form:\n{output}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a store holding wine:1 (the README's example) and diabetes:1."""
    folder = tmp_path_factory.mktemp("cli")
    mlpact("train", EXAMPLES / "wine" / "config.yaml", "--set", "evaluate.cv_folds=2", cwd=folder)
    diabetes = {
        "name": "diabetes",
        "data": {"source": "sklearn:diabetes", "target": "target"},
        "model": {"type": "sklearn.linear_model.Ridge"},
        "evaluate": {"cv_folds": 2},
        "record": {"golden_rows": 20},  # many test rows: some fall outside the training range
    }
    mlpact("train", write_config(folder, diabetes, "diabetes.yaml"), cwd=folder)
    return folder


@pytest.fixture(scope="module")
def awkward_wines(trained: Path) -> Path:
    """The README's new wines with a missing value and a row far outside the training range."""
    frame = pd.read_csv(EXAMPLES / "wine" / "new_wines.csv")
    frame.loc[0, "alcohol"] = None
    frame.loc[1, "proline"] = 99_999.0
    path = trained / "awkward.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_readme_predict_example_is_clean(trained: Path) -> None:
    out = mlpact(
        "predict", "wine", EXAMPLES / "wine" / "new_wines.csv", "-o", "predictions.csv", "--keep",
        "sample_id", cwd=trained,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Wrote 20 predictions of wine:1")
    assert out.stderr.startswith("✓ Predicting new_wines.csv (")  # progress on stderr, no blank line


@pytest.mark.slow
def test_awkward_input_gives_mlpact_lines_with_right_plurals(trained: Path, awkward_wines: Path) -> None:
    out = mlpact("predict", "wine", awkward_wines, "-o", "p.csv", "--keep", "sample_id", cwd=trained)
    assert out.returncode == 0, out.stderr
    assert "2 warnings (the validation policy lets these through):" in out.stderr
    assert "proline" in out.stderr and "alcohol" in out.stderr


@pytest.mark.slow
def test_a_refused_input_claims_no_progress(trained: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "wine" / "new_wines.csv").drop(columns=["proline"])
    frame.to_csv(trained / "no_proline.csv", index=False)
    out = mlpact("predict", "wine", "no_proline.csv", "-o", "p.csv", cwd=trained)
    assert out.returncode == 4
    assert "✓" not in out.stderr
    assert "proline" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "diabetes", "DATA"],
        ["check", "wine", "AWKWARD"],
        ["models", "verify"],
        ["models", "show", "wine"],
        ["models", "list"],
        ["runs", "list"],
    ],
    ids=lambda a: " ".join(a),
)
def test_commands_on_real_data_show_no_raw_warning(
    trained: Path, awkward_wines: Path, args: list[str]
) -> None:
    if "DATA" in args:
        from sklearn.datasets import load_diabetes

        load_diabetes(as_frame=True).frame.sample(120, random_state=1).to_csv(trained / "d.csv", index=False)
    args = [{"DATA": "d.csv", "AWKWARD": str(awkward_wines)}.get(a, a) for a in args]
    out = mlpact(*args, cwd=trained)
    assert out.returncode in (0, 11, 12, 15), out.stderr  # check's verdicts are exit codes


@pytest.mark.slow
def test_export_and_import_verify_golden_rows_without_warnings(trained: Path, tmp_path: Path) -> None:
    assert mlpact("models", "export", "diabetes:1", tmp_path / "d.tar.gz", cwd=trained).returncode == 0
    out = mlpact("models", "import", tmp_path / "d.tar.gz", "--store", tmp_path / "other", cwd=trained)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr


@pytest.mark.slow
def test_serve_start_shows_no_warning_for_golden_rows(trained: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [MLPACT, "serve", "diabetes", "--port", str(port)],
        cwd=trained,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", proc)  # type: ignore[arg-type]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "Warning" not in err and "outside the training range" not in err, err
    assert not SOURCE_PATH.search(out + err), err


@pytest.mark.slow
def test_train_warnings_are_mlpact_lines_on_stderr(tmp_path: Path) -> None:
    """A model that does not converge: scikit-learn's ConvergenceWarning, said once, as mlpact's."""
    cfg = wine_config(model={"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2}})
    out = mlpact("train", write_config(tmp_path, cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Warning: The estimator warned (ConvergenceWarning): lbfgs failed to converge" in out.stderr
    assert "Warning" not in out.stdout


# --------------------------------------------------------------------------- --debug anywhere
@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_is_accepted_before_or_after_the_command(where: str, tmp_path: Path) -> None:
    args = ["models", "show", "nope", "--store", str(tmp_path)]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    result = runner.invoke(app, args)
    assert result.exit_code != 2, result.output  # not a usage error
    assert result.exception is not None and type(result.exception).__name__ == "NotFoundError"


def test_without_debug_the_error_is_short(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "show", "nope", "--store", str(tmp_path)])
    assert result.exit_code == 5
    assert "Traceback" not in result.output


def test_debug_after_a_double_dash_is_an_argument(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "show", "--store", str(tmp_path), "--", "--debug"])
    assert result.exit_code not in (0, 2), result.output  # a short error about a model named --debug
    assert "--debug" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- help text
def every_command(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, group)]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            if not sub.hidden:
                found += every_command(sub, (*path, name))
    return found


COMMANDS = every_command(typer.main.get_command(app))
# rich markup tags mlpact's help uses on purpose
STYLE_TAG = re.compile(r"^/?(bold|dim|italic|red|green|yellow|cyan)?$")
TAG = re.compile(r"(\\*)\[([a-z#/@][^[\]]*?)]")  # rich's markup tag pattern


def help_texts(command: Any) -> list[str]:
    texts = [command.help or ""]
    texts += [getattr(p, "help", None) or "" for p in command.params]
    return texts


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"train", "predict", "models show", "models verify", "store rebuild-index", "nb check"} <= names
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_help_shows_bracketed_text_and_wraps_once(path: tuple[str, ...], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    shown = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    for text in help_texts(command):
        for escapes, tag in TAG.findall(text):
            if len(escapes) % 2 == 0 and not STYLE_TAG.match(tag):
                pytest.fail(f"`{' '.join(path)} --help` swallows [{tag}] (escape it as \\\\[{tag}])")
            if len(escapes) % 2:
                assert " ".join(f"[{tag}]".split()) in shown, f"[{tag}] missing from the help"
    for text in help_texts(command):  # rich wraps each paragraph: a hard break in prose wraps twice
        for paragraph in text.split("\n\n"):
            lines = paragraph.split("\n")
            if len(lines) > 1 and not any(line.startswith((" ", "-", "*")) for line in lines):
                pytest.fail(f"`{' '.join(path)} --help` has a hard line break in prose:\n{paragraph}")


def test_help_is_not_wrapped_at_80_columns_twice_on_a_wide_terminal() -> None:
    result = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert "missing columns and values that cannot be converted stop the run" in result.output


# --------------------------------------------------------------------------- tables in pipes
def test_a_table_piped_to_a_file_keeps_each_row_on_one_line(tmp_path: Path) -> None:
    import mlpact

    mlpact.train(write_config(tmp_path, wine_config(name="a-rather-long-model-name-for-a-wide-table")),
                 store=tmp_path / "s")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [MLPACT, "models", "list", "--store", str(tmp_path / "s")], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    (row,) = [line for line in out.stdout.splitlines() if "a-rather-long-model-name" in line]
    assert "accuracy" in out.stdout and iso_date(row)
    assert max(map(len, out.stdout.splitlines())) > 80


def iso_date(line: str) -> bool:
    return bool(re.search(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", line))


# --------------------------------------------------------------------------- dates
ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")


@pytest.fixture(scope="module")
def two_wines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import mlpact

    store = tmp_path_factory.mktemp("dates") / "s"
    folder = store.parent
    for seed in (1, 2):
        mlpact.train(write_config(folder, wine_config(seed=seed, evaluate={"cv_folds": 0})), store=store)
    from mlpact import registry

    registry.promote("wine:2", "production", store=store)
    return store


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list"],
        ["models", "show", "wine:1"],
        ["models", "history", "wine"],
        ["runs", "list"],
        ["runs", "show", "RUN"],
    ],
    ids=lambda a: " ".join(a),
)
def test_every_printed_timestamp_is_an_iso_date(two_wines: Path, args: list[str]) -> None:
    if "RUN" in args:
        import mlpact

        args = [*args[:-1], mlpact.load("wine:1", store=two_wines).lineage["run_id"]]
    result = runner.invoke(app, [*args, "--store", str(two_wines)], env={"COLUMNS": "80"})  # a narrow page
    assert result.exit_code == 0, result.output
    assert ISO.search(result.output), result.output
    assert not re.search(r"\b1\d{9}(\.\d+)?\b|\+00:00|\d\d:\d\d:\d\d\.\d", result.output), result.output


# --------------------------------------------------------------------------- no ✓ before a refusal
def test_reproduce_on_changed_data_ticks_nothing(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    import mlpact

    frame = load_wine(as_frame=True).frame
    frame.to_csv(tmp_path / "wine.csv", index=False)
    cfg = wine_config(
        data={"source": str(tmp_path / "wine.csv"), "target": "target"}, evaluate={"cv_folds": 0}
    )
    mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    frame.iloc[:-5].to_csv(tmp_path / "wine.csv", index=False)
    result = runner.invoke(app, ["reproduce", "wine:1", "--store", str(tmp_path / "s")])
    assert result.exit_code == 13, result.output
    assert "its data changed since it was trained" in result.output
    assert "✓" not in result.output
