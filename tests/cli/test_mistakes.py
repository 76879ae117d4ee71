"""A table of realistic mistakes, each made through the real command line (issue 22).

Each row is what a new user types on real data (scikit-learn's wine, iris and diabetes, CSVs
exported with ';' or tabs, empty files, misspelt models, aliases, keys and flags) with the exit
code it must give (docs/cli.md) and what its message must say: what was expected, what was
found, and what to do (the `Hint:` line). No row may show a traceback or a raw Python warning
with a source path. Below the table: the exit-code table of docs/cli.md against
`mlpact.errors.ExitCode`, every error class's hint, and `--set`/`nb run -p` giving one error.
"""

from __future__ import annotations

import inspect
import re
import shutil
import socket
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import wine_config, write_config
from mlpact import errors, registry
from mlpact.cli import _app, app
from mlpact.errors import ExitCode, MlpactError

E = ExitCode
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# A raw warning as Python prints it: "path/to/module.py:81: InputWarning: ..."
RAW_WARNING = re.compile(r"\S+\.py:\d+: \w*Warning\b")


@dataclass(frozen=True)
class Mistake:
    """One mistake: the command line, the exit code, and the parts its message must contain."""

    id: str
    args: tuple[str, ...]
    code: ExitCode
    expected: str  # what was expected (or what the message says is wrong)
    found: str  # what was found instead
    hint: str  # part of the Hint: line (for argument-parser errors: its "Try ..." line)


def m(id: str, line: str, code: ExitCode, expected: str, found: str, hint: str) -> Mistake:
    """A mistake written as the shell line a user types (split on spaces; `␣` is a space)."""
    return Mistake(id, tuple(a.replace("␣", " ") for a in line.split()), code, expected, found, hint)


HINT_MODELS_LIST = "`mlpact models list` shows the models"
HINT_CONFIG = "`mlpact config show CONFIG` prints the config"
HINT_SHOW_MODEL = "`mlpact models show MODEL` lists the columns"

# fmt: off
MISTAKES = [
    # ---------------------------------------------------------------- config files
    m('config file misspelt', 'train wnie.yaml', E.CONFIG,
      "Config file 'wnie.yaml' not found", 'YAML files there: ', 'Check the path'),
    m('config is a folder', 'train configs', E.CONFIG,
      'expected a YAML file', "found the folder 'configs'", 'Name the config file inside it'),
    m('tab in YAML', 'train tab.yaml', E.CONFIG,
      'YAML indents with spaces only', 'line 4, column 1: a tab character', 'Replace the tabs with spaces'),
    m('unclosed bracket in YAML', 'train bracket.yaml', E.CONFIG,
      "did not find expected ',' or ']'", 'bracket.yaml: 1 problem', 'quote a value'),
    m('colon inside a value', 'train colon.yaml', E.CONFIG,
      'mapping values are not allowed in this context', 'line 2, column 18', "quote a value that contains ': '"),
    m("data file (Parquet) passed as the config", "train wines.parquet", E.CONFIG,
      "expected a UTF-8 text file", "found bytes that are not text",
      "`mlpact init --from-data wines.parquet --target COLUMN`"),
    m("data file (CSV) passed as the config", "train wines.csv", E.CONFIG,
      "expected a mapping of sections at the top level", "found str",
      "wines.csv looks like a data file; this command takes a YAML config"),
    m("estimator module misspelt", "train wine.yaml --set model.type=sklearn.linear_models.LogisticRegression",
      E.CONFIG, "model.type: cannot import module 'sklearn.linear_models'", "No module named",
      "Check the import path's spelling"),
    m("target's case wrong", "train wine.yaml --set data.target=Target", E.INPUT,
      "Columns named in the config are not in the data: ['Target']", "did you mean 'target' for 'Target'?",
      "(or --set)"),
    m("tune without a search space", "tune wine.yaml", E.CONFIG,
      "tune.space: nothing to search", "found an empty space", HINT_CONFIG),
    m("init with the target's case wrong", "init starter --from-data labelled.csv --target Target", E.INPUT,
      "Target column 'Target' is not in labelled.csv", "did you mean 'target'?", "Name one of the file's columns"),
    m('top level is a list', 'train list.yaml', E.CONFIG,
      'expected a mapping of sections at the top level', 'found list', HINT_CONFIG),
    m('empty config file', 'train empty.yaml', E.CONFIG,
      'data: required key is missing', 'model: required key is missing', HINT_CONFIG),
    m('extends a missing file', 'train child.yaml', E.CONFIG,
      "extends: 'base.yaml' not found", 'looked for', 'relative to the file that names them'),
    m('env variable not set', 'train env.yaml', E.CONFIG,
      'environment variable MLPACT_TEST_UNSET_DIR is not set', "found '${env:MLPACT_TEST_UNSET_DIR}/wine.csv'", HINT_CONFIG),
    m('estimator class misspelt', 'train wine.yaml --set model.type=sklearn.ensemble.RandomForrestClassifier', E.CONFIG,
      'model.type', 'RandomForrestClassifier', HINT_CONFIG),
    m('estimator without its module', 'train wine.yaml --set model.type=RandomForestClassifier', E.CONFIG,
      'expected an import path such as sklearn.linear_model.LogisticRegression', "found 'RandomForestClassifier'", HINT_CONFIG),
    m('target that is not a column', 'train iris.yaml', E.INPUT,
      "Columns named in the config are not in the data: ['species']", 'The data has: ', 'Fix data.target'),
    m("training CSV written with ';'", 'train semi.yaml', E.INPUT,
      "expected columns separated by ','", "one column holding ';'", "data.sep: ';'"),
    m('training CSV with a header only', 'train headeronly.yaml', E.INPUT,
      'expected at least one row to train on', 'a header but 0 rows', 'Check data.source'),
    m('training CSV is empty', 'train emptydata.yaml', E.INPUT,
      'expected a header line naming the columns', 'found 0 bytes', 'written completely'),
    m('classifier metric on a regression', 'train diabetes.yaml --set evaluate.primary=accuracy', E.CONFIG,
      "'accuracy' is a classification metric", 'Ridge is a regressor: expected one of rmse, mae, r2', 'Name metrics of the task'),
    # ---------------------------------------------------------------- --set overrides
    m('--set section misspelt', 'train wine.yaml --set model.parms.C=1', E.CONFIG,
      'did you mean `model.params`?', '[set in --set model.parms.C]', HINT_CONFIG),
    m('--set top-level key misspelt', 'train wine.yaml --set modle.type=x', E.CONFIG,
      'did you mean `model`?', '[set in --set modle.type]', HINT_CONFIG),
    m('--set only: the header names --set', 'config show wine.yaml --set evaluate.cv_fold=3', E.CONFIG,
      'Invalid config in the --set overrides of wine.yaml', 'did you mean `evaluate.cv_folds`?', HINT_CONFIG),
    m('--set estimator parameter misspelt', 'train wine.yaml --set model.params.max_iters=5', E.CONFIG,
      'not a parameter of LogisticRegression', 'did you mean `model.params.max_iter`?', HINT_CONFIG),
    m("--set without '='", 'train wine.yaml --set seed', E.CONFIG,
      'is not of the form key.path=value', "found no '='", "Give a name, '=' and a value: --set"),
    m("--set with a space instead of '='", 'train wine.yaml --set seed␣7', E.CONFIG,
      'is not of the form key.path=value', "found no '='", '--set model.params.C=0.5'),
    m('--set through a value', 'train wine.yaml --set data.target.name=y', E.CONFIG,
      "data.target is 'target', not a section with keys", "--set 'data.target.name=y'", '--set data.target=VALUE'),
    m('--set a number as text', 'train wine.yaml --set seed=forty-two', E.CONFIG,
      'seed: Input should be a valid integer', "found 'forty-two'", HINT_CONFIG),
    m('--set one fold', 'train wine.yaml --set evaluate.cv_folds=1', E.CONFIG,
      'cross-validation needs at least 2 folds', 'found 1', HINT_CONFIG),
    m('--set a name with a slash', 'config show wine.yaml --set name=team/wine', E.CONFIG,
      'name: expected 1 to 64 characters: letters, digits', "found 'team/wine'", HINT_CONFIG),
    # ---------------------------------------------------------------- predict input
    m("predict output folder has a file's name", 'predict wine wines.csv -o notes.txt/out.csv', E.INPUT,
      'expected a folder', 'found a file', 'Choose another --output path'),
    m('predict input misspelt', 'predict wine wine.csv -o out.csv', E.INPUT,
      'does not exist', 'wine.csv', "Check the file's path"),
    m("predict input exported with ';'", 'predict wine wines_semi.csv -o out.csv', E.INPUT,
      "expected columns separated by ','", "one column holding ';': 'alcohol;malic_acid", "--sep ';'"),
    m("evaluate on a file exported with ';'", "evaluate wine labelled_semi.csv", E.INPUT,
      "expected columns separated by ','", "one column holding ';': 'alcohol;malic_acid", "--sep ';'"),
    m('predict input exported with tabs', 'predict wine wines_tab.csv -o out.csv', E.INPUT,
      "expected columns separated by ','", 'one column holding a tab', "--sep '\\t'"),
    m('predict --sep tab on a comma file', 'predict wine wines.csv -o out.csv --sep \\t', E.INPUT,
      'expected columns separated by a tab', "holding ','", "--sep ','"),
    m('predict input renamed by a spreadsheet', 'predict wine renamed.csv -o out.csv', E.INPUT,
      'alcohol: column is missing', "did you mean the input's 'Alcohol'?", HINT_SHOW_MODEL),
    m('predict input with spaces for underscores', 'predict wine renamed.csv -o out.csv', E.INPUT,
      'malic_acid: column is missing', "did you mean the input's 'malic acid'? (names must match exactly: rename it to 'malic_acid')", HINT_SHOW_MODEL),
    m('predict input with a misspelt column', 'predict wine typo.csv -o out.csv', E.INPUT,
      'proline: column is missing', "did you mean the input's 'prolin'?", HINT_SHOW_MODEL),
    m('predict the wrong dataset (iris)', 'predict wine iris.csv -o out.csv', E.INPUT,
      "Input does not match the model's schema: 13 errors", 'alcohol: column is missing', HINT_SHOW_MODEL),
    m('predict decimal commas', 'predict wine wines_decimal_comma.csv -o out.csv --sep ;', E.INPUT,
      'cannot be converted to float', "e.g. '14,23'", HINT_SHOW_MODEL),
    m('predict an empty file', 'predict wine empty.csv -o out.csv', E.INPUT,
      'expected a header line naming the columns', 'found 0 bytes', 'written completely'),
    m('predict an Excel file', 'predict wine wines.xlsx -o out.csv', E.INPUT,
      'expected a CSV file (.csv, .tsv, .txt) or a Parquet file', "found '.xlsx'", 'Save the workbook as CSV'),
    m('predict into a JSON file', 'predict wine wines.csv -o out.json', E.INPUT,
      'expected a CSV file (.csv, .tsv, .txt) or a Parquet file', "found '.json'", 'Rename the file to the format it holds'),
    m('predict over its own input', 'predict wine wines.csv -o wines.csv', E.INPUT,
      'Expected an output file other than the input', 'found -o naming the input itself', '-o predictions.csv'),
    m('predict --keep a column that is not there', 'predict wine wines.csv -o out.csv --keep customer_id', E.INPUT,
      "--keep names columns that are not in the input: ['customer_id']", 'Input columns: ', "Check the file's path"),
    # ---------------------------------------------------------------- models, versions, aliases
    m('model name misspelt', 'predict wien wines.csv -o out.csv', E.NOT_FOUND,
      "No model named 'wien'", "Did you mean 'wine'? Models: ratio, wine", HINT_MODELS_LIST),
    m("predict from the wrong folder (an empty store)", "predict wine wines.csv -o out.csv --store elsewhere",
      E.NOT_FOUND, "No model named 'wine'", "the store has no models yet",
      "Is --store (or MLPACT_HOME) the store you trained into?"),
    m("evaluate on unlabelled rows", "evaluate wine wines.csv", E.INPUT,
      "evaluating needs labelled rows", "The target column 'target' is not in the data", "Add the labels"),
    m("diff against a version that does not exist", "models diff wine:1 wine:3", E.NOT_FOUND,
      "Model 'wine' has no version 3", "it has versions 1", HINT_MODELS_LIST),
    m("run id that does not exist", "runs show 1234abcd", E.NOT_FOUND,
      "No run", "'1234abcd'", "`mlpact runs list` shows run ids"),
    m('version that does not exist', 'predict wine:7 wines.csv -o out.csv', E.NOT_FOUND,
      "Model 'wine' has no version 7", 'it has versions 1', HINT_MODELS_LIST),
    m('version 0', 'predict wine:0 wines.csv -o out.csv', E.NOT_FOUND,
      'version numbers run from 1', 'no version 0', HINT_MODELS_LIST),
    m('version written as v2', 'predict wine:v2 wines.csv -o out.csv', E.NOT_FOUND,
      'expected NAME, NAME:VERSION or NAME@ALIAS', "'wine:v2'", HINT_MODELS_LIST),
    m('alias abbreviated', 'predict wine@prod wines.csv -o out.csv', E.NOT_FOUND,
      "Model 'wine' has no alias 'prod'", 'its aliases: production', 'mlpact models promote wine:VERSION prod'),
    m('alias of a model that does not exist', 'predict nope@prod wines.csv -o out.csv', E.NOT_FOUND,
      "No model named 'nope'", 'Models: ratio, wine', HINT_MODELS_LIST),
    m('model name with a space', 'predict my␣wine wines.csv -o out.csv', E.STORE,
      'expected 1 to 64 characters: letters, digits', 'found a space', 'Use letters, digits and - _ . only'),
    m('alias with a slash', 'models promote wine:1 prod/eu', E.STORE,
      "Invalid alias 'prod/eu': expected 1 to 64 characters", "found '/'", "e.g. 'production'"),
    m('promote a version that does not exist', 'models promote wine:9 production', E.NOT_FOUND,
      "Model 'wine' has no version 9", 'it has versions 1', HINT_MODELS_LIST),
    m('rollback with one holder', 'models rollback wine production', E.NOT_FOUND,
      'there is no earlier version to roll back to', 'has had only one holder (wine:1)', 'mlpact models promote wine:VERSION production'),
    m('rollback an alias never set', 'models rollback wine staging', E.NOT_FOUND,
      "has no alias 'staging' to roll back", 'its aliases: production', 'mlpact models history wine'),
    m('rollback a model that does not exist', 'models rollback nope production', E.NOT_FOUND,
      "No model named 'nope'", 'Models: ratio, wine', HINT_MODELS_LIST),
    m('version number too large', 'models show wine:99999999999999999999', E.NOT_FOUND,
      'cannot exist; version numbers are at most', 'version 99999999999999999999', 'mlpact models list NAME'),
    m('model whose own code is gone', 'predict ratio wines.csv -o out.csv', E.INTEGRITY,
      'uses mistakes_feat_', 'cannot be imported here', 'Install the project that provides it'),
    m('a store file edited by hand', 'predict wine wines.csv -o out.csv --store tampered', E.INTEGRITY,
      'does not match its manifest', 'changed: metrics.json', 'Restore the files from a backup'),
    # ---------------------------------------------------------------- the store
    m('--store names a file', 'models list --store notes.txt', E.STORE,
      'expected a folder', 'is a file', 'Point --store (or MLPACT_HOME) at a folder'),
    m('--store names the database file', 'predict wine wines.csv -o out.csv --store store/mlpact.db', E.STORE,
      'expected a folder', 'mlpact.db is a file', 'not the mlpact.db file itself'),
    # ---------------------------------------------------------------- serve
    m('serve on a busy port', 'serve wine --port {busy_port}', E.USAGE,
      'expected a free port', 'is already in use by another program', 'Pick another with --port'),
    m("serve on a busy port: found before the model is looked up", "serve nope --port {busy_port}", E.USAGE,
      "Port {busy_port} on 127.0.0.1 is already in use", "expected a free port", "--port 8000"),
    m('serve on a host that is not there', 'serve wine --host wine.invalid', E.USAGE,
      'expected an address or name of this machine', "'wine.invalid' does not resolve", '127.0.0.1'),
    # ---------------------------------------------------------------- notebooks
    m("nb run -p without '='", 'nb run explore.ipynb -o ran.ipynb -p alpha', E.CONFIG,
      'is not of the form name=value', "found no '='", "Give a name, '=' and a value: -p alpha=0.5"),
    m('nb run -p a name that is not an identifier', 'nb run explore.ipynb -o ran.ipynb -p 1alpha=2', E.CONFIG,
      'is not of the form name=value', "found the name '1alpha'", '-p alpha=0.5'),
    # ---------------------------------------------------------------- the argument parser
    m('flag misspelt', 'train wine.yaml --sett seed=1', E.USAGE,
      'No such option: --sett', '(Possible options: --set, --store)', "Try 'mlpact train -h' for help."),
    m('predict without -o', 'predict wine wines.csv', E.USAGE,
      "Missing option '--output'", "'-o'", "Try 'mlpact predict -h' for help."),
    m('predict with an unknown engine', 'predict wine wines.csv -o out.csv --engine spark', E.USAGE,
      'expected local or ray', "found 'spark'", "Try 'mlpact predict -h' for help."),
    m('serve on a port out of range', 'serve wine --port 80000', E.USAGE,
      "Invalid value for '--port'", 'should be less than or equal to 65535', "Try 'mlpact serve -h' for help."),
]
# fmt: on


# --------------------------------------------------------------------------- the world they happen in
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A project folder with real data files (some wrong), configs (some broken), a store with a
    wine version (alias production), a version whose own code is gone, and a tampered copy."""
    from sklearn.datasets import load_iris, load_wine

    d = tmp_path_factory.mktemp("mistakes")
    wine = load_wine(as_frame=True)
    X = wine.data
    X.to_csv(d / "wines.csv", index=False)
    X.to_parquet(d / "wines.parquet")
    wine.frame.to_csv(d / "labelled.csv", index=False)
    X.to_csv(d / "wines_semi.csv", index=False, sep=";")
    X.to_csv(d / "wines_tab.csv", index=False, sep="\t")
    X.to_csv(d / "wines_decimal_comma.csv", index=False, sep=";", decimal=",")
    X.head(0).to_csv(d / "header_only.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "wines.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (d / "notes.txt").write_text("a file, not a folder\n")
    renames = {
        "alcohol": "Alcohol",
        "malic_acid": "malic acid",
        "od280/od315_of_diluted_wines": "od280_od315",
    }
    X.rename(columns=renames).to_csv(d / "renamed.csv", index=False)
    X.rename(columns={"proline": "prolin"}).to_csv(d / "typo.csv", index=False)
    X.assign(customer="c", notes="n").to_csv(d / "extra.csv", index=False)
    load_iris(as_frame=True).data.to_csv(d / "iris.csv", index=False)
    wine.frame.to_csv(d / "labelled_semi.csv", index=False, sep=";")
    wine.frame.head(0).to_csv(d / "labelled_header_only.csv", index=False)
    (d / "configs").mkdir()

    write_config(d, wine_config())
    (d / "config.yaml").rename(d / "wine.yaml")
    (d / "tab.yaml").write_text("name: wine\ndata:\n  source: sklearn:wine\n\ttarget: target\n")
    (d / "bracket.yaml").write_text("name: wine\ndata:\n  source: sklearn:wine\n  drop: [ash\nmodel: {}\n")
    (d / "colon.yaml").write_text("name: wine\ndescription: Wine: three cultivars\n")
    (d / "list.yaml").write_text("- name: wine\n- data: {}\n")
    (d / "empty.yaml").write_text("")
    (d / "child.yaml").write_text("extends: base.yaml\nname: wine\n")
    (d / "env.yaml").write_text(
        "name: wine\ndata:\n  source: ${env:MLPACT_TEST_UNSET_DIR}/wine.csv\n  target: target\n"
        "model:\n  type: sklearn.linear_model.LogisticRegression\n"
    )
    for name, source, target in [
        ("iris", "sklearn:iris", "species"),
        ("semi", "labelled_semi.csv", "target"),
        ("headeronly", "labelled_header_only.csv", "target"),
        ("emptydata", "empty.csv", "target"),
        ("diabetes", "sklearn:diabetes", "target"),
    ]:
        cfg = wine_config(name=name, data={"source": source, "target": target})
        if name == "diabetes":
            cfg["model"] = {"type": "sklearn.linear_model.Ridge"}
        write_config(d, cfg, f"{name}.yaml")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("alpha = 1.0")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, d / "explore.ipynb")

    store = d / "store"
    result = mlpact.train(d / "wine.yaml", store=store)
    registry.promote(result.ref, "production", store=store)
    _train_with_code_that_then_disappears(d, store)
    shutil.copytree(store, d / "tampered")
    metrics = d / "tampered" / "models" / "wine" / "1" / "metrics.json"
    metrics.write_text(metrics.read_text().replace("accuracy", "accuracy ", 1))

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    yield {"dir": d, "store": store, "busy_port": busy.getsockname()[1]}
    busy.close()


def _train_with_code_that_then_disappears(d: Path, store: Path) -> None:
    """Train `ratio` with a transformer from the user's own module, then delete the module (as a
    colleague without the project's code would be)."""
    module = f"mistakes_feat_{id(d)}"
    code = d / "code"
    (code / module).mkdir(parents=True)
    (code / module / "__init__.py").write_text(
        "from sklearn.base import BaseEstimator, TransformerMixin\n\n\n"
        "class AddRatio(TransformerMixin, BaseEstimator):\n"
        "    def fit(self, X, y=None):\n        return self\n\n"
        "    def transform(self, X):\n        return X.assign(ratio=X['alcohol'] / X['ash'])\n"
    )
    cfg = wine_config(name="ratio", features={"custom": [{"type": f"{module}:AddRatio"}]})
    sys.path.insert(0, str(code))
    try:
        mlpact.train(write_config(d, cfg, "ratio.yaml"), store=store)
    finally:
        sys.path.remove(str(code))
        for name in [n for n in sys.modules if n.split(".")[0] == module]:
            del sys.modules[name]
        shutil.rmtree(code)


# --------------------------------------------------------------------------- running one
runner = CliRunner()


@dataclass
class Outcome:
    code: int
    output: str
    errors: list[tuple[str, str | None]]  # (message, hint) of every MlpactError the CLI printed


def run_cli(world: dict[str, Any], args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run `mlpact ARGS` in the project folder, with raw Python warnings printed the way Python
    prints them (pytest would otherwise swallow them), recording every error message printed."""
    printed: list[tuple[str, str | None]] = []
    original = _app.print_error

    def spy(message: str, hint: str | None) -> None:
        printed.append((message, hint))
        original(message, hint)

    monkeypatch.setattr(_app, "print_error", spy)
    monkeypatch.chdir(world["dir"])
    line = [a.replace("{busy_port}", str(world["busy_port"])) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _print_raw_warning
        result = runner.invoke(app, line, env={"MLPACT_HOME": str(world["store"])})
    return Outcome(result.exit_code, result.output, printed)


def _print_raw_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("mistake", MISTAKES, ids=[x.id for x in MISTAKES])
def test_mistake(world: dict[str, Any], mistake: Mistake, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_cli(world, mistake.args, monkeypatch)
    text = flat(out.output)
    assert out.code == mistake.code, out.output
    for part in (mistake.expected, mistake.found, mistake.hint):
        part = part.replace("{busy_port}", str(world["busy_port"]))
        assert flat(part) in text, f"{part!r} not in:\n{out.output}"
    assert "Traceback" not in out.output and "Unexpected error" not in out.output, out.output
    assert not RAW_WARNING.search(out.output), out.output
    if out.errors:  # an MlpactError: one Error: line with a Hint: line holding the hint part
        assert [bool(h) for _, h in out.errors] == [True], out.errors
        hint_lines = [ln for ln in out.output.splitlines() if ln.startswith("Hint: ")]
        assert len(hint_lines) == 1 and flat(mistake.hint) in flat(hint_lines[0]), out.output
    else:  # only the argument parser may stop a command without mlpact's own error
        assert mistake.code == E.USAGE, out.output


def test_the_table_is_large_and_every_mistake_is_distinct() -> None:
    assert len(MISTAKES) >= 50
    assert len({x.id for x in MISTAKES}) == len(MISTAKES)
    assert len({(x.args, x.expected, x.found) for x in MISTAKES}) == len(MISTAKES)


# --------------------------------------------------------------------------- what succeeds, with a word
def test_a_missing_output_folder_is_created(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_cli(world, ("predict", "wine", "wines.csv", "-o", "preds/2026-11/out.csv"), monkeypatch)
    assert out.code == 0, out.output
    assert len(pd.read_csv(world["dir"] / "preds" / "2026-11" / "out.csv")) == 178
    assert not RAW_WARNING.search(out.output), out.output


def test_a_tab_separated_input_reads_with_sep_backslash_t(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_cli(world, ("predict", "wine", "wines_tab.csv", "-o", "tab.csv", "--sep", "\\t"), monkeypatch)
    assert out.code == 0, out.output
    assert "Wrote 178 predictions of wine:1" in flat(out.output)


def test_a_header_only_input_says_0_rows(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_cli(world, ("predict", "wine", "header_only.csv", "-o", "none.csv"), monkeypatch)
    assert out.code == 0, out.output
    assert "Warning: the input header_only.csv has a header but 0 rows: nothing was predicted" in flat(
        out.output
    )
    assert "Wrote" not in out.output
    assert list(pd.read_csv(world["dir"] / "none.csv").columns)[:1] == ["prediction"]


def test_ignored_extra_columns_are_mentioned_once(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_cli(world, ("predict", "wine", "extra.csv", "-o", "x.csv", "--chunk-rows", "50"), monkeypatch)
    assert out.code == 0, out.output
    assert (
        flat(out.output).count("Note: 2 input columns not used by the model, ignored: customer, notes.") == 1
    )
    assert "Wrote 178 predictions" in flat(out.output)


def test_set_and_nb_param_without_equals_give_one_error_and_code(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_set = run_cli(world, ("train", "wine.yaml", "--set", "alpha"), monkeypatch)
    by_param = run_cli(world, ("nb", "run", "explore.ipynb", "-o", "ran.ipynb", "-p", "alpha"), monkeypatch)
    assert by_set.code == by_param.code == E.CONFIG
    shape = re.compile(r"Error: (--set|-p) 'alpha' is not of the form \S+ \(e\.g\. \1 \S+\): found no '='\.")
    assert shape.search(by_set.output) and shape.search(by_param.output), (by_set.output, by_param.output)


# --------------------------------------------------------------------------- the exit-code table
def documented_codes() -> dict[int, str]:
    """code -> name from the one table in docs/cli.md."""
    section = DOCS.read_text().split("## Exit codes", 1)[1]
    rows = re.findall(r"^\| (\d+) \| *(\w*) *\|", section, flags=re.M)
    return {int(code): name for code, name in rows}


def test_docs_exit_code_table_is_exit_code() -> None:
    assert documented_codes() == {**{c.value: c.name for c in ExitCode}, 130: ""}


# Codes no mistake in the table produces, and why: success, a bug, and verdicts that need a
# retrained model or a changed library, pinned in their own tests.
NOT_MISTAKES = {
    E.OK: "success",
    E.INTERNAL: "a bug, never a mistake's answer",
    E.NOTEBOOK: "tests/test_notebooks.py (nb check findings)",
    E.RETRAIN: "tests/test_check.py (drift verdicts)",
    E.INCOMPATIBLE: "tests/test_check.py",
    E.DIFFERS: "tests/test_reproduce.py (a retrained version)",
    E.BEHAVIOUR: "tests/test_golden.py (a changed library)",
    E.INCONCLUSIVE: "tests/test_check.py",
    E.MISSING_DEPENDENCY: "tests/test_cli.py (extras not installed)",
}


def test_every_documented_error_code_is_what_a_mistake_gets() -> None:
    produced = {x.code for x in MISTAKES}
    assert produced <= set(ExitCode)
    assert set(ExitCode) - produced == set(NOT_MISTAKES)


def all_error_classes() -> list[type[MlpactError]]:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(mlpact.__path__, "mlpact."):
        if not any(part in info.name for part in ("torch", "ray", "mlflow", "ui_", "tune._ray")):
            importlib.import_module(info.name)
    found: list[type[MlpactError]] = []
    todo = [MlpactError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_every_error_class_has_a_documented_code_and_a_hint() -> None:
    classes = all_error_classes()
    assert len(classes) >= 15
    documented = documented_codes()
    for cls in classes:
        assert int(cls.exit_code) in documented, cls
        assert cls.hint and cls.hint.strip(), f"{cls.__name__} has no hint"


def test_an_error_raised_without_a_hint_still_prints_its_class_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @_app.command
    def fails() -> None:
        raise errors.StoreError("The store is locked.")

    with pytest.raises(Exception) as info:
        fails()
    assert getattr(info.value, "exit_code", None) == E.STORE
    err = capsys.readouterr().err
    assert "Error: The store is locked." in err
    assert "Hint: Point --store (or MLPACT_HOME) at a folder you can write" in flat(err)


def test_error_classes_name_their_code_in_the_docs() -> None:
    """Each error class's code row in docs/cli.md says when it is used: the row is not empty."""
    section = DOCS.read_text().split("## Exit codes", 1)[1]
    for cls in all_error_classes():
        row = re.search(rf"^\| {int(cls.exit_code)} \| \w+ \| (.+) \|$", section, flags=re.M)
        assert row and len(row.group(1)) > 20, cls
    assert inspect.getdoc(errors.UsageError)


def test_the_harness_sees_a_raw_warning_and_a_missing_hint(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's checks can fail: a raw warning shows with its source path, and a hint-less
    error is recorded as such."""
    import mlpact.prediction

    def noisy(*args: Any, **kwargs: Any) -> None:  # a warning that leaks past the CLI's own lines
        sys.stderr.write(warnings.formatwarning("a library said something", FutureWarning, "lib.py", 1))
        error = errors.DataError("The file is odd.")
        error.hint = None
        raise error

    monkeypatch.setattr(mlpact.prediction, "predict", noisy)
    out = run_cli(world, ("predict", "wine", "wines.csv", "-o", "odd.csv"), monkeypatch)
    assert out.code == E.INPUT
    assert RAW_WARNING.search(out.output), out.output
    assert out.errors == [("The file is odd.", None)]
    assert "Hint:" not in out.output
