"""Notebooks: static checks, clean re-runs, parameterised runs, export to modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")

from mlpact import notebooks  # noqa: E402
from mlpact.errors import NotebookError  # noqa: E402


def make_nb(
    path: Path,
    cells: list[tuple[str, int | None]],
    *,
    tags: dict[int, list[str]] | None = None,
    outputs: dict[int, list[Any]] | None = None,
) -> Path:
    """A notebook whose code cells have these sources and execution counts (None = never run)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, (source, count) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.metadata["tags"] = (tags or {}).get(i, [])
        cell.outputs = [nbformat.from_dict(o) for o in (outputs or {}).get(i, [])]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def checks(report: notebooks.NotebookReport) -> list[tuple[str, int]]:
    return [(f.check, f.cell) for f in report.findings]


def test_a_clean_notebook_has_no_findings(tmp_path: Path) -> None:
    path = make_nb(
        tmp_path / "ok.ipynb",
        [
            ("import math\nx = 2", 1),
            ("y = math.sqrt(x)\nprint(y)", 2),
            ("def f(a):\n    return a + z\nz = 1\nf(y)", 3),
        ],
    )
    report = notebooks.check(path)
    assert report.findings == [] and report.ok


@pytest.mark.parametrize(
    "cells, expected",
    [
        ([("a = 1", 2), ("b = a", 1)], [("out-of-order", 2)]),
        ([("a = 1", None), ("b = 2", 1)], [("unexecuted", 1)]),
        ([("a = 1", 1), ("b = a", 4)], [("re-run", 2)]),
        ([("b = a + 1", 2), ("a = 1", 1)], [("hidden-state", 1), ("out-of-order", 2)]),
        ([("print(df.head())", 1)], [("undefined-name", 1)]),
        ([("import pandas as pd\ndf = pd.read_csv('/home/ana/data/train.csv')", 1)], [("absolute-path", 1)]),
        ([("path = r'C:\\\\Users\\\\ana\\\\x.csv'", 1)], [("absolute-path", 1)]),
        ([("url = 'https://example.org/a/b'\nrel = 'data/x.csv'", 1)], []),
    ],
    ids=[
        "out-of-order",
        "unexecuted-before-executed",
        "skipped-counts",
        "used-before-defined",
        "never-defined",
        "unix-path",
        "windows-path",
        "urls-and-relative-paths-are-fine",
    ],
)
def test_static_checks(
    tmp_path: Path, cells: list[tuple[str, int | None]], expected: list[tuple[str, int]]
) -> None:
    assert checks(notebooks.check(make_nb(tmp_path / "n.ipynb", cells))) == expected


@pytest.mark.parametrize(
    "source",
    [
        "for i in range(3):\n    total = i\nprint(total)",
        "squares = [k * k for k in range(3)]\nlookup = {k: v for k, v in [(1, 2)]}",
        "with open(__file__) as fh:\n    text = fh.read()\nprint(text)",
        "try:\n    pass\nexcept Exception as err:\n    print(err)",
        "%matplotlib inline\nfiles = !ls\nprint(files)",
        "class A:\n    x = 1\nA().x",
        "f = lambda q: q + 1\nf(1)",
        "import os.path\nos.path.join('a', 'b')",
        "(n := 3)\nprint(n)",
    ],
)
def test_python_scoping_is_understood(tmp_path: Path, source: str) -> None:
    assert checks(notebooks.check(make_nb(tmp_path / "n.ipynb", [(source, 1)]))) == []


# What docs/notebooks.md promises, each pinned by a small notebook: (cells, findings).
PROMISES = {
    "augmented-assignment-above-its-definition": (
        [("counter += 1", 1), ("counter = 0", 2)],
        [("hidden-state", 1)],
    ),
    "augmented-assignment-of-a-name-never-set": ([("total += 1\nprint(total)", 1)], [("undefined-name", 1)]),
    "comprehension-variable-does-not-leak": (
        [("squares = [x * x for x in range(3)]", 1), ("print(x)", 2)],
        [("undefined-name", 2)],
    ),
    "generator-and-dict-comprehensions-do-not-leak": (
        [("total = sum(v for v in range(3))\nd = {k: k for k in 'ab'}\nprint(v, k)", 1)],
        [("undefined-name", 1), ("undefined-name", 1)],
    ),
    "walrus-in-a-comprehension-binds-the-cell": (
        [("ys = [last := i for i in range(3)]\nprint(last)", 1)],
        [],
    ),
    "time-magic-runs-its-code": ([("%time y = 1", 1), ("print(y)", 2)], []),
    "time-cell-magic-runs-its-code": ([("%%time\nz = 2", 1), ("print(z)", 2)], []),
    "capture-binds-its-name": ([("%%capture out\nw = 3", 1), ("print(w, out)", 2)], []),
    "time-magic-code-is-checked-for-what-it-reads": (
        [("%time q = undefined_thing", 1)],
        [("undefined-name", 1)],
    ),
    "other-cell-magics-are-not-python": ([("%%bash\necho $HOME", 1), ("print(1)", 2)], []),
    "star-import-stops-the-name-checks-and-says-so": (
        [("from math import *\nprint(sqrt(2))", 1), ("print(unknown_name)", 2)],
        [("star-import", 1)],
    ),
    "one-inserted-cell-run-last-is-one-finding": (
        [("a = 1", 1), ("b = 2", 2), ("c = 3", 5), ("d = 4", 3), ("e = 5", 4)],
        [("out-of-order", 3)],
    ),
    "two-cells-run-in-swapped-order-is-one-finding-and-no-gap": (
        [("a = 1", 1), ("b = 2", 2), ("c = 3", 4), ("d = 4", 3), ("e = 5", 5)],
        [("out-of-order", 4)],  # the lower one is blamed, as for [2, 1]; count 4 is held: no re-run gap
    ),
    "one-inserted-cell-never-run-is-one-finding": (
        [("a = 1", 1), ("b = 2", 2), ("c = 3", None), ("d = 4", 3), ("e = 5", 4)],
        [("unexecuted", 3)],
    ),
}


@pytest.mark.parametrize("case", sorted(PROMISES))
def test_what_the_docs_promise(tmp_path: Path, case: str) -> None:
    cells, expected = PROMISES[case]
    assert checks(notebooks.check(make_nb(tmp_path / "n.ipynb", cells))) == expected


def test_messages_for_star_imports_and_an_inserted_cell(tmp_path: Path) -> None:
    cells, _ = PROMISES["star-import-stops-the-name-checks-and-says-so"]
    (star,) = notebooks.check(make_nb(tmp_path / "s.ipynb", cells)).findings
    assert (
        star.severity == "warning" and "checking for undefined and hidden-state names stopped" in star.message
    )
    assert "cells 1 to 2 not checked" in star.message
    cells, _ = PROMISES["one-inserted-cell-run-last-is-one-finding"]
    (late,) = notebooks.check(make_nb(tmp_path / "i.ipynb", cells)).findings
    assert late.message == "cell 3 ran (execution count 5) after cell 4 below it (execution count 3)"


def test_magics_are_understood_without_ipython(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "IPython.core.inputtransformer2", None)  # import fails
    for case in ("time-magic-runs-its-code", "time-cell-magic-runs-its-code", "capture-binds-its-name",
                 "other-cell-magics-are-not-python"):  # fmt: skip
        cells, expected = PROMISES[case]
        assert checks(notebooks.check(make_nb(tmp_path / f"{case}.ipynb", cells))) == expected, case
    path = make_nb(tmp_path / "n.ipynb", [("%matplotlib inline\nfiles = !ls\nprint(files)", 1)])
    assert checks(notebooks.check(path)) == []


def test_oversized_outputs(tmp_path: Path) -> None:
    big = [{"output_type": "stream", "name": "stdout", "text": "x" * 5000}]
    path = make_nb(tmp_path / "n.ipynb", [("print('x' * 5000)", 1)], outputs={0: big})
    assert checks(notebooks.check(path, max_output_bytes=1000)) == [("output-size", 1)]
    assert checks(notebooks.check(path)) == []


def test_rerun_reports_the_first_failing_cell(tmp_path: Path) -> None:
    path = make_nb(tmp_path / "n.ipynb", [("a = 1", 1), ("b = a / 0", 2), ("c = 3", 3)])
    report = notebooks.check(path, rerun=True, timeout=60)
    (finding,) = [f for f in report.findings if f.check == "rerun-failed"]
    assert finding.cell == 2 and "ZeroDivisionError" in finding.message


def test_rerun_reports_outputs_that_differ(tmp_path: Path) -> None:
    saved = [{"output_type": "stream", "name": "stdout", "text": "41\n"}]
    path = make_nb(tmp_path / "n.ipynb", [("print(6 * 7)", 1)], outputs={0: saved})
    report = notebooks.check(path, rerun=True, timeout=60)
    assert checks(report) == [("output-differs", 1)]
    assert report.ok  # a difference is a warning, not an error
    assert "41 -> 42" in report.findings[0].message


def test_run_injects_parameters_after_the_parameters_cell(tmp_path: Path) -> None:
    path = make_nb(
        tmp_path / "p.ipynb",
        [("alpha = 0.1\nname = 'x'", None), ("result = alpha * 10\nprint(result, name)", None)],
        tags={0: ["parameters"]},
    )
    out = notebooks.run(path, tmp_path / "out.ipynb", parameters={"alpha": 0.5}, timeout=60)
    nb = nbformat.read(out, as_version=4)
    assert nb.cells[1].metadata["tags"] == ["injected-parameters"]
    assert nb.cells[2].outputs[0]["text"] == "5.0 x\n"
    assert nb.metadata["mlpact"]["parameters"] == {"alpha": 0.5}


def test_unknown_parameter_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    path = make_nb(tmp_path / "p.ipynb", [("alpha = 0.1", None)], tags={0: ["parameters"]})
    with pytest.raises(NotebookError, match=r"Unknown parameter 'alhpa' \(did you mean 'alpha'\?\)"):
        notebooks.run(path, tmp_path / "out.ipynb", parameters={"alhpa": 1})
    plain = make_nb(tmp_path / "q.ipynb", [("alpha = 0.1", None)])
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        notebooks.run(plain, tmp_path / "out.ipynb", parameters={"alpha": 1})


def test_a_failing_run_still_saves_the_executed_notebook(tmp_path: Path) -> None:
    path = make_nb(tmp_path / "f.ipynb", [("x = 1", None), ("raise ValueError('boom')", None)])
    with pytest.raises(NotebookError, match="failed at cell 2: ValueError: boom"):
        notebooks.run(path, tmp_path / "out.ipynb", timeout=60)
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[1].outputs[0]["ename"] == "ValueError"


@pytest.mark.parametrize(
    "items, expected",
    [(["a=1", "b=x", "c=[1, 2]", "d=true", "e="], {"a": 1, "b": "x", "c": [1, 2], "d": True, "e": None})],
)
def test_parse_parameters(items: list[str], expected: dict[str, Any]) -> None:
    assert notebooks.parse_parameters(items) == expected


@pytest.mark.parametrize(
    "item, found", [("1x=2", "found the name '1x'"), ("alpha", "found no '='"), ("=3", "found the name ''")]
)
def test_parse_parameters_rejects_bad_names(item: str, found: str) -> None:
    from mlpact.errors import ConfigError

    with pytest.raises(ConfigError, match=f"-p '{item}' is not of the form name=value .*: {found}"):
        notebooks.parse_parameters([item])


def test_export_gathers_imports_and_the_module_works(tmp_path: Path) -> None:
    path = make_nb(
        tmp_path / "e.ipynb",
        [
            ("#| export\nimport numpy as np\n\ndef ratio(a, b):\n    return np.divide(a, b)", 1),
            ("ratio(1, 2)  # exploration, not exported", 2),
            (
                "from math import sqrt\nimport numpy as np\n\ndef norm(a, b):\n    return sqrt(a * a + b * b)",
                3,
            ),
        ],
        tags={2: ["export"]},
    )
    module = tmp_path / "pkg" / "feats.py"
    text = notebooks.export(path, module)
    assert text.index("import numpy as np") < text.index("from math import sqrt") < text.index("def ratio")
    assert text.count("import numpy as np") == 1
    assert "exploration" not in text
    sys.path.insert(0, str(tmp_path))
    try:
        import pkg.feats  # type: ignore[import-not-found]

        assert pkg.feats.ratio(1, 4) == 0.25 and pkg.feats.norm(3, 4) == 5.0
    finally:
        sys.path.remove(str(tmp_path))
    assert notebooks.export(path, module, check_only=True) == text
    module.write_text(text + "# edited by hand\n")
    with pytest.raises(NotebookError, match="is not up to date"):
        notebooks.export(path, module, check_only=True)


def test_export_needs_marked_cells(tmp_path: Path) -> None:
    path = make_nb(tmp_path / "e.ipynb", [("x = 1", 1)])
    with pytest.raises(NotebookError, match="No cell of .* is marked for export"):
        notebooks.export(path, tmp_path / "m.py")


def test_unreadable_notebook(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(NotebookError, match="Cannot read"):
        notebooks.check(bad)
    with pytest.raises(NotebookError, match="does not exist"):
        notebooks.check(tmp_path / "none.ipynb")


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    good = make_nb(tmp_path / "good.ipynb", [("x = 1", 1)])
    bad = make_nb(tmp_path / "bad.ipynb", [("y = x", 1)])
    runner = CliRunner()
    assert runner.invoke(app, ["nb", "check", str(good)]).exit_code == 0
    result = runner.invoke(app, ["nb", "check", str(good), str(bad), "--json"])
    assert result.exit_code == 10
    assert [r["ok"] for r in json.loads(result.stdout)] == [True, False]


def test_example_notebook_passes_a_clean_rerun() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "explore-wine.ipynb"
    report = notebooks.check(example, rerun=True, timeout=300)
    assert report.findings == [], report.findings
