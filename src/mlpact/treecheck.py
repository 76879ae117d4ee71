"""Decision-tree structures of a loaded pipeline, checked before its first prediction.

scikit-learn's compiled tree code follows the child and feature indices stored in a fitted tree
without bounds checks: a file whose values point outside the tree or the input row makes predict
read or write outside its arrays (SIGSEGV, or a corrupted heap). The allowlist decides which
classes a file may build; this module checks the values of the trees it built:

- every ``sklearn.tree._tree.Tree`` (decision trees, random forests, extra trees, gradient
  boosting, isolation forests, AdaBoost ...): each node is a leaf (both children -1) or splits on
  a feature of the rows it will be given and has both children later in the node array (so
  following them always ends, at a leaf), and the value array has one entry per node;
- every ``TreePredictor`` of a HistGradientBoosting model: the same for its node records, plus
  categorical splits that point at an existing bitset of a feature that is categorical;
- gradient boosting's grid of trees: as many trees per stage as its initial predictions have
  columns (the compiled loop writes one column per tree).

One value outside trees is checked the same way: a text vectorizer reads its input as text
(``input="content"``, the only setting mlpact builds); ``"filename"`` or ``"file"`` would make
it open the files that the rows to predict name.

"The rows it will be given" is the narrowest width on the way to the tree: the estimator's
``n_features_in_`` (what scikit-learn checks X against), an ensemble's ``n_features_in_`` and
the features a bagged member sees (ensembles call members without checking again).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from mlpact.errors import IntegrityError

MAX_PROBLEMS = 5
_SKIP = (str, bytes, int, float, bool, complex, type(None), type)


def check(pipeline: Any, *, file: str) -> None:
    """Check every tree reachable from `pipeline`.

    Raises:
        IntegrityError: naming where each malformed tree is and what is wrong with it.
    """
    problems = []
    for problem in _problems(pipeline):
        problems.append(problem)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise IntegrityError(
            f"Refusing to load {file}: it holds malformed decision trees that would make "
            "scikit-learn read outside its arrays, or values mlpact never writes:\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="The file was not written by mlpact from a fitted model, or was damaged. "
            "Export the version again from its original store.",
        )


def _problems(root: Any) -> Iterator[str]:
    """Walk the object graph (attributes, containers, object arrays) without recursion; check
    gradient boosting's stages last, since that computes the initial predictions."""
    import numpy as np

    seen: set[int] = set()
    stack: list[tuple[Any, str, int | None]] = [(root, "pipeline", None)]
    boosted: list[tuple[Any, str, int | None]] = []
    found = False
    while stack:
        obj, where, bound = stack.pop()
        if isinstance(obj, _SKIP) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend((v, f"{where}[{k!r}]", None) for k, v in obj.items())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, f"{where}[{i}]", None) for i, v in enumerate(obj))
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((v, f"{where}[{i}]", None) for i, v in enumerate(obj.ravel()))
        elif hasattr(obj, "__dict__"):
            for problem in _estimator(obj, where, bound, stack):
                found = True
                yield problem
            if type(obj).__module__ == "sklearn.ensemble._gb" and "estimators_" in vars(obj):
                boosted.append((obj, where, _width(vars(obj).get("n_features_in_"))))
    for est, where, own in [] if found else boosted:  # predicting needs every tree sound
        yield from _stages(est, vars(est)["estimators_"], where, own)


def _estimator(
    obj: Any, where: str, bound: int | None, stack: list[tuple[Any, str, int | None]]
) -> Iterator[str]:
    attrs = vars(obj)
    own = _width(attrs.get("n_features_in_"))
    limit = min([w for w in (bound, own) if w is not None], default=None)
    if _is(attrs.get("tree_"), "sklearn.tree._tree", "Tree"):
        yield from _tree_holder(obj, attrs["tree_"], f"{where}.tree_", limit)
    if "_predictors" in attrs:
        yield from _hist_gradient_boosting(attrs, where, own)
    if (
        type(obj).__module__ == "sklearn.feature_extraction.text"
        and attrs.get("input", "content") != "content"
    ):
        yield f"{where}: a text vectorizer with input={attrs['input']!r} would open the files its rows name"
    for name, value in attrs.items():
        if name == "estimators_" and own is not None:
            stack.extend(_members(value, attrs.get("estimators_features_"), f"{where}.estimators_", own))
        else:
            stack.append((value, f"{where}.{name}", None))


def _members(value: Any, features: Any, where: str, own: int) -> list[tuple[Any, str, int | None]]:
    """An ensemble's members: called with rows already checked against the ensemble (or the
    columns their bag selects), so no member may split on a feature beyond those."""
    import numpy as np

    flat = (
        list(value.ravel())
        if isinstance(value, np.ndarray)
        else list(value)
        if isinstance(value, (list, tuple))
        else [value]
    )
    widths = [_width(getattr(m, "n_features_in_", None)) for m in flat]
    narrowest = min([own, *[w for w in widths if w is not None]]) if features is None else own
    out: list[tuple[Any, str, int | None]] = []
    for i, member in enumerate(flat):
        bound = narrowest
        if features is not None:
            bag = features[i] if i < len(features) else ()
            bound = min(own, len(bag))
        out.append((member, f"{where}[{i}]", bound))
    return out


def _tree_holder(est: Any, tree: Any, where: str, limit: int | None) -> Iterator[str]:
    if limit is None:
        yield f"{where}: the estimator records no n_features_in_, so its splits cannot be checked"
        return
    yield from _tree(tree, where, min(limit, int(tree.n_features)))
    outputs = getattr(est, "n_outputs_", None)
    if isinstance(outputs, int) and outputs != tree.n_outputs:
        yield f"{where}: the tree has {tree.n_outputs} outputs, its estimator {outputs}"


def _tree(tree: Any, where: str, width: int) -> Iterator[str]:
    """One sklearn Tree: children later in the array (or both -1), features below `width`."""
    import numpy as np

    n = int(tree.node_count)
    if n < 1:
        yield f"{where}: a tree without nodes"
        return
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    yield from _nodes(
        where, n, np.asarray(left), np.asarray(right), np.asarray(feature), width, leaf=left == -1
    )
    value = tree.value
    if value.shape[0] != n:
        yield f"{where}: {value.shape[0]} values for {n} nodes"


def _nodes(
    where: str, n: int, left: Any, right: Any, feature: Any, width: int, *, leaf: Any
) -> Iterator[str]:
    import numpy as np

    index = np.arange(n)
    split = ~leaf
    if np.any(leaf & (right != -1)) or np.any(split & (right == -1)):
        yield f"{where}: a node with one child (a split needs two, a leaf none)"
    for name, child in (("left", left), ("right", right)):
        bad = split & ((child <= index) | (child >= n))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            yield f"{where}: node {i}'s {name} child is {int(child[i])}; expected a later node below {n}"
    bad = split & ((feature < 0) | (feature >= width))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        yield f"{where}: node {i} splits on feature {int(feature[i])}; the rows it is given have {width}"


def _hist_gradient_boosting(attrs: dict[str, Any], where: str, own: int | None) -> Iterator[str]:
    """HistGradientBoosting*: each TreePredictor's node records and categorical bitsets."""
    import numpy as np

    if own is None:
        yield f"{where}: the estimator records no n_features_in_, so its splits cannot be checked"
        return
    categorical = getattr(attrs.get("_bin_mapper"), "is_categorical_", None)
    widths = [own, len(categorical) if categorical is not None else None]
    if attrs.get("_preprocessor") is not None:  # categorical columns: rows come through it
        widths.append(_selected_width(attrs["_preprocessor"], own))
    width = min(w for w in widths if w is not None)
    predictors = attrs["_predictors"]
    for i, stage in enumerate(predictors if isinstance(predictors, list) else [predictors]):
        for k, predictor in enumerate(stage if isinstance(stage, list) else [stage]):
            at = f"{where}._predictors[{i}][{k}]"
            if not _is(predictor, "sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"):
                yield f"{at}: expected a TreePredictor, found {type(predictor).__name__}"
                continue
            yield from _predictor(predictor, at, width, categorical, np)


def _predictor(predictor: Any, where: str, width: int, categorical: Any, np: Any) -> Iterator[str]:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = getattr(predictor, "nodes", None)
    if (
        not isinstance(nodes, np.ndarray)
        or nodes.dtype != PREDICTOR_RECORD_DTYPE
        or nodes.ndim != 1
        or not len(nodes)
    ):
        yield f"{where}: its nodes are not an array of scikit-learn's predictor records"
        return
    leaf = nodes["is_leaf"] != 0
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    yield from _nodes(where, len(nodes), np.where(leaf, -1, left), np.where(leaf, -1, right),
                      nodes["feature_idx"].astype(np.int64), width, leaf=leaf)  # fmt: skip
    cat = ~leaf & (nodes["is_categorical"] != 0)
    if not cat.any():
        return
    bitsets = getattr(predictor, "raw_left_cat_bitsets", None)
    rows = (
        bitsets.shape[0]
        if isinstance(bitsets, np.ndarray) and bitsets.ndim == 2 and bitsets.shape[1] >= 8
        else 0
    )
    if np.any(nodes["bitset_idx"][cat] >= rows):
        yield f"{where}: a categorical split points at a bitset beyond the {rows} it has"
    features = nodes["feature_idx"][cat]
    known = np.asarray(categorical, dtype=bool) if categorical is not None else np.zeros(0, dtype=bool)
    if np.any(features >= len(known)) or not known[features[features < len(known)]].all():
        yield f"{where}: a categorical split on a feature that is not categorical"


def _stages(est: Any, stages: Any, where: str, own: int | None) -> Iterator[str]:
    """GradientBoosting*: the compiled loop adds tree k of a stage into column k of the initial
    predictions, so their widths must agree (predicted for one all-zero row)."""
    import numpy as np

    if not isinstance(stages, np.ndarray) or stages.ndim != 2 or stages.shape[0] < 1 or own is None:
        yield f"{where}.estimators_: expected a non-empty 2-D grid of trees with n_features_in_ set"
        return
    if own > 1 << 24:
        yield f"{where}: n_features_in_ {own} is not a plausible width"
        return
    try:
        with warnings.catch_warnings():  # an all-zero row without feature names: nothing to tell
            warnings.simplefilter("ignore")
            first = est._raw_predict_init(np.zeros((1, own)))
    except Exception as exc:  # a malformed init_ or first tree
        yield f"{where}: its initial predictions cannot be computed ({type(exc).__name__})"
        return
    if first.ndim != 2 or first.shape[1] != stages.shape[1]:
        found = first.shape[-1]
        yield f"{where}.estimators_: {stages.shape[1]} trees per stage for {found} prediction columns"


def _selected_width(transformer: Any, own: int) -> int:
    """How many columns a fitted ColumnTransformer passes on: each of its transformers (an
    OrdinalEncoder, a validation step) returns as many columns as it selects."""
    import numpy as np

    total = 0
    for entry in getattr(transformer, "transformers_", None) or []:
        if (
            not isinstance(entry, tuple)
            or len(entry) != 3
            or (isinstance(entry[1], str) and entry[1] == "drop")
        ):
            continue
        columns = np.asarray(entry[2])
        total += int(columns.sum()) if columns.dtype == bool and len(columns) == own else columns.size
    return total


def _width(value: Any) -> int | None:
    import numbers

    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or int(value) < 0:
        return None
    return int(value)


def _is(obj: Any, module: str, name: str) -> bool:
    """`obj` is an instance of exactly that class (by name: nothing is imported to ask)."""
    cls = type(obj)
    return cls.__module__ == module and cls.__qualname__ == name
