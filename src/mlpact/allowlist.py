"""Which names a pipeline file may make Python import and construct: an allowlist of exact names.

A skops file is a tree of nodes; each node names (as text) the class, function or type that
rebuilding it imports and calls. Every name is checked here, as a string, before anything is
imported: first against the denylist (classes whose construction or clean-up touches files,
processes or threads, whatever else trusts them), then against the allowlist for its kind of
node. Only then are the modules of the approved names imported, and each object found must be
exactly what its name says (its own ``__module__`` and ``__qualname__``: a class re-exported
by another module does not pass under that module's name).

The built-in allowlist is what mlpact writes for the pipelines it can build: scikit-learn's
estimators and the internal types they hold (``sklearn.tree._tree.Tree`` ...), NumPy arrays,
dtypes, ufuncs and random generators, SciPy sparse matrices and ufuncs, plain Python data and
mlpact's own transformers. Anything else must be named exactly by the caller (`extra`): the
names the store's index recorded when the version was saved, and ``--trust``.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlpact.errors import IntegrityError, UntrustedTypesError, shorten

MAX_SCHEMA_BYTES = 256 << 20  # schema.json of a 20k-term TF-IDF pipeline is a few MB
MAX_DEPTH = 400  # nesting of nodes; real pipelines stay under 60

# --------------------------------------------------------------------------- the denylist
# Refused whatever trusts them: their construction, attributes or clean-up open, write or delete
# files, start processes or threads, load native code or unpickle. A name is denied when it is
# one of these or lies inside one of these modules; a class is denied when any class in its MRO is.
DENIED = frozenset(
    {
        # processes, threads, native code, the interpreter
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "multiprocessing", "concurrent",
        "threading", "_thread", "asyncio", "signal", "ctypes", "_ctypes", "sys", "importlib",
        "runpy", "code", "codeop", "pdb", "bdb", "pty", "tty", "gc", "atexit", "weakref", "types",
        "inspect", "operator", "site", "sysconfig", "pkgutil", "zipimport", "ensurepip", "venv",
        # files and the network
        "io", "_io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "filecmp", "linecache",
        "mmap", "fcntl", "resource", "zipfile", "tarfile", "gzip", "bz2", "lzma", "shelve", "dbm",
        "sqlite3", "logging", "socket", "ssl", "select", "selectors", "socketserver", "http",
        "urllib", "ftplib", "smtplib", "imaplib", "poplib", "xmlrpc", "webbrowser", "wsgiref",
        # unpickling and code loading
        "pickle", "_pickle", "copyreg", "marshal", "joblib", "cloudpickle", "dill",
        # the same, in the libraries mlpact trusts
        "numpy.memmap", "numpy.lib.npyio", "numpy.lib._npyio_impl", "numpy.lib._datasource",
        "numpy.lib.format", "numpy.lib.format.open_memmap", "numpy.DataSource", "numpy.load",
        "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.fromfile", "numpy.loadtxt",
        "numpy.savetxt", "numpy.genfromtxt", "numpy.f2py", "numpy.distutils", "numpy.testing",
        "numpy.ctypeslib", "numpy._core.memmap", "numpy.core.memmap", "numpy._pytesttester",
        "scipy.io", "scipy.datasets", "scipy._lib._testutils", "sklearn.datasets",
        "sklearn.utils._testing", "sklearn.externals", "sklearn.metrics._dist_metrics.PyFuncDistance64",
        "sklearn.metrics._dist_metrics.PyFuncDistance32", "pandas.io", "pandas.read_pickle",
        "torch.load", "torch.serialization", "torch.hub",
    }
)  # fmt: skip

# Plain data types: the only names under `builtins` a file may use (eval, open, getattr ... never).
SAFE_BUILTINS = frozenset(
    f"builtins.{t}"
    for t in ("int", "float", "complex", "str", "bool", "bytes", "bytearray", "list", "tuple",
              "dict", "set", "frozenset", "slice", "range", "map")
)  # fmt: skip


def denied(name: str) -> bool:
    """True when `name` (``module.Name``) is on the denylist or lies inside a denied module."""
    if name in SAFE_BUILTINS:
        return False
    if name.startswith("builtins."):
        return True
    parts = name.split(".")
    return any(".".join(parts[:i]) in DENIED for i in range(1, len(parts) + 1))


# --------------------------------------------------------------------------- the allowlist
# scikit-learn's internal types that fitted estimators hold (skops' own lists hold the public
# estimators, the link and loss classes and _BinMapper). Exact names; tests/test_allowlist.py
# checks each one resolves to itself in the installed scikit-learn.
SKLEARN_INTERNALS = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    *(f"sklearn._loss.loss.{n}" for n in (
        "HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss", "HalfPoissonLoss",
        "HalfGammaLoss", "HalfTweedieLoss", "HalfTweedieLossIdentity", "HalfBinomialLoss",
        "HalfMultinomialLoss", "ExponentialLoss")),
    *(f"sklearn._loss.link.{n}" for n in (
        "Interval", "IdentityLink", "LogLink", "LogitLink", "HalfLogitLink", "MultinomialLogit")),
    *(f"sklearn._loss._loss.Cy{n}" for n in (
        "HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss", "HalfPoissonLoss",
        "HalfGammaLoss", "HalfTweedieLoss", "HalfTweedieLossIdentity", "HalfBinomialLoss",
        "ExponentialLoss", "HalfMultinomialLoss")),
    *(f"sklearn.linear_model._sgd_fast.{n}" for n in (
        "Hinge", "SquaredHinge", "ModifiedHuber", "EpsilonInsensitive", "SquaredEpsilonInsensitive")),
    *(f"sklearn.metrics._dist_metrics.{n}Distance{bits}" for bits in (32, 64) for n in (
        "Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski", "Mahalanobis", "Hamming",
        "Canberra", "BrayCurtis", "Jaccard", "Matching", "Dice", "RogersTanimoto", "RussellRao",
        "SokalMichener", "SokalSneath", "Haversine")),
    *(f"sklearn.gaussian_process.kernels.{n}" for n in (
        "Hyperparameter", "CompoundKernel", "Sum", "Product", "Exponentiation", "ConstantKernel",
        "WhiteKernel", "RBF", "Matern", "RationalQuadratic", "ExpSineSquared", "DotProduct",
        "PairwiseKernel")),
    *(f"sklearn.model_selection._split.{n}" for n in (
        "KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold", "TimeSeriesSplit",
        "ShuffleSplit", "StratifiedShuffleSplit", "GroupShuffleSplit", "RepeatedKFold",
        "RepeatedStratifiedKFold", "LeaveOneOut", "PredefinedSplit")),
    "sklearn.compose._column_transformer.make_column_selector",
)  # fmt: skip

# mlpact's own classes that its pipelines hold.
OWN = ("mlpact.transformers.DatetimeParts", "mlpact.transformers.JoinText")

# Plain functions fitted estimators hold (beyond NumPy's and SciPy's ufuncs): HistGradientBoosting
# keeps `partial(check_array, ...)` in the preprocessor it builds for categorical columns.
FUNCTIONS = ("sklearn.utils.validation.check_array",)

# What each kind of plain node may be: skops rebuilds these without calling anything else.
NUMPY = ("numpy.ndarray", "numpy.dtype", "numpy.ma.MaskedArray", "numpy.random.mtrand.RandomState",
         "numpy.random._generator.Generator")  # fmt: skip
SPARSE = tuple(
    f"scipy.sparse._{fmt}.{fmt}_{kind}"
    for fmt in ("csr", "csc", "coo", "lil", "dok", "dia", "bsr")
    for kind in ("matrix", "array")
)
# skops writes a bit generator under numpy.random; the class lives in a private module.
BIT_GENERATORS = {
    "numpy.random.MT19937": "numpy.random._mt19937.MT19937",
    "numpy.random.PCG64": "numpy.random._pcg64.PCG64",
    "numpy.random.PCG64DXSM": "numpy.random._pcg64.PCG64DXSM",
    "numpy.random.Philox": "numpy.random._philox.Philox",
    "numpy.random.SFC64": "numpy.random._sfc64.SFC64",
}

# The kind of name each skops node carries, and for plain nodes the only names allowed.
_FIXED: dict[str, frozenset[str]] = {
    "DictNode": frozenset({"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"}),
    "DefaultDictNode": frozenset({"collections.defaultdict"}),
    "ListNode": frozenset({"builtins.list"}),
    "SetNode": frozenset({"builtins.set"}),
    "BytesNode": frozenset({"builtins.bytes"}),
    "BytearrayNode": frozenset({"builtins.bytearray"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "PartialNode": frozenset({"functools.partial"}),
    "MaskedArrayNode": frozenset({"numpy.ma.MaskedArray"}),
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "SparseMatrixNode": frozenset(SPARSE),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "TupleNode": frozenset({"builtins.tuple"}),  # or a named tuple class on the allowlist
}
_KIND = {
    "ObjectNode": "class", "ConstructorFromReduceNode": "class", "LossNode": "class",
    "NdArrayNode": "array", "FunctionNode": "function", "TypeNode": "type",
    "MethodNode": "method", "OperatorFuncNode": "method",
}  # fmt: skip
_NAMELESS = frozenset({"JsonNode", "CachedNode"})  # rebuilt from JSON or from a node seen before


@dataclass(frozen=True)
class Allowlist:
    """Exact names per kind of node: built-in ones, plus `extra` (the index's and ``--trust``)."""

    classes: frozenset[str]
    functions: frozenset[str]
    types: frozenset[str]
    arrays: frozenset[str]
    bit_generators: frozenset[str]
    extra: frozenset[str] = frozenset()

    def widened(self, extra: Iterable[str]) -> Allowlist:
        """This allowlist plus exact names (``module.Name``; ``module:Name`` is accepted too)."""
        names = frozenset(e.replace(":", ".") for e in extra)
        return Allowlist(
            self.classes, self.functions, self.types, self.arrays, self.bit_generators, self.extra | names
        )

    def allows(self, kind: str, name: str) -> bool:
        """Whether a node of `kind` may name `name` (the denylist is checked first)."""
        if denied(name):
            return False
        if kind in _FIXED:
            return name in _FIXED[kind] or (kind == "TupleNode" and self.allows("class", name))
        if kind == "bit_generator":
            return name in self.bit_generators
        if kind == "array":
            return name in self.arrays
        if kind == "class":
            return name in self.classes or name in self.extra
        if kind == "function":
            return name in self.functions or name in self.extra
        if kind == "type":
            return name in self.types or name in self.classes or name in self.extra
        return name in self.extra  # a method of an object, an operator: only when named

    def knows(self, name: str) -> bool:
        """Whether any kind of node may name `name`."""
        return any(self.allows(kind, name) for kind in KINDS)


KINDS = (*_FIXED, "class", "function", "type", "array", "bit_generator", "method")


def builtin(skops_lists: Mapping[str, Sequence[str]]) -> Allowlist:
    """mlpact's own allowlist, from skops' lists of the installed libraries' names (see
    `bundle.import_skops`) and the internal types above."""
    dtypes = frozenset(skops_lists["NUMPY_DTYPE_TYPE_NAMES"])
    classes = frozenset(
        [
            *skops_lists["SKLEARN_ESTIMATOR_TYPE_NAMES"],
            *skops_lists["SKLEARN_INTERNAL_TYPE_NAMES"],
            *SKLEARN_INTERNALS,
            *OWN,
        ]
    )
    functions = frozenset(
        [*skops_lists["NUMPY_UFUNC_TYPE_NAMES"], *skops_lists["SCIPY_UFUNC_TYPE_NAMES"], *FUNCTIONS]
    )
    plain = frozenset([*skops_lists["PRIMITIVE_TYPE_NAMES"], *skops_lists["CONTAINER_TYPE_NAMES"]])
    return Allowlist(
        classes=frozenset(n for n in classes if not denied(n)),
        functions=frozenset(n for n in functions if not denied(n)),
        types=plain | dtypes | frozenset(NUMPY),
        arrays=dtypes | {"numpy.ndarray"},
        bit_generators=frozenset(
            n for n in skops_lists["NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES"] if n in BIT_GENERATORS
        ),
    )


# --------------------------------------------------------------------------- reading a file's names
def read_schema(source: Path | IO[bytes], *, label: str | None = None) -> dict[str, Any]:
    """The node tree (schema.json) of a skops file, read without building anything.

    Raises:
        IntegrityError: not a zip, no schema.json, too large, not JSON, or not a tree of nodes.
    """
    label = label or str(source)
    try:
        with zipfile.ZipFile(source) as zf:
            info = zf.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise IntegrityError(
                    f"{label}: its schema.json claims {info.file_size} bytes; mlpact reads at most "
                    f"{MAX_SCHEMA_BYTES}. Refusing to load it."
                )
            schema = json.loads(zf.read(info))
    except IntegrityError:
        raise
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile, EOFError) as exc:
        raise IntegrityError(
            f"{label} is not a readable skops file ({type(exc).__name__}: {shorten(str(exc))}). "
            "Refusing to load it."
        ) from None
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise IntegrityError(
            f"{label} is not a readable skops file (schema.json is not a node). Refusing to load it."
        )
    return schema


def needed(schema: Mapping[str, Any], *, file: str) -> set[tuple[str, str]]:
    """Every (kind, name) rebuilding the file would import: pure reading, nothing is imported.

    Raises:
        IntegrityError: a node of a kind mlpact does not know, or one without its names.
    """
    out: set[tuple[str, str]] = set()
    for node in _nodes(schema, file):
        loader = node["__loader__"]
        if loader in _NAMELESS:
            continue
        name = _name(node, file)
        if loader == "MethodNode":
            func = (node.get("content") or {}).get("func") if isinstance(node.get("content"), dict) else None
            if not isinstance(func, str):
                raise IntegrityError(f"{file}: a MethodNode without a method name. Refusing to load it.")
            name = f"{name}.{func}"
        out.add((loader if loader in _FIXED else _KIND[loader], name))
        if loader == "RandomGeneratorNode":
            out.add(("bit_generator", f"numpy.random.{_bit_generator(node, file)}"))
    return out


def _nodes(schema: Mapping[str, Any], file: str) -> Iterator[Mapping[str, Any]]:
    """Every node in the tree, depth first, without recursion (a hostile file can nest deeply)."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise IntegrityError(f"{file}: nodes nested more than {MAX_DEPTH} deep. Refusing to load it.")
        if isinstance(value, dict):
            if "__loader__" in value:
                loader = value["__loader__"]
                if not isinstance(loader, str) or (
                    loader not in _FIXED and loader not in _KIND and loader not in _NAMELESS
                ):
                    raise IntegrityError(
                        f"{file}: a node of kind {shorten(repr(loader))}, which mlpact never writes. "
                        "Refusing to load it."
                    )
                yield value
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _name(node: Mapping[str, Any], file: str) -> str:
    module, cls = node.get("__module__"), node.get("__class__")
    if not isinstance(module, str) or not isinstance(cls, str) or not module or not cls:
        raise IntegrityError(
            f"{file}: a node ({node['__loader__']}) without a module and class name. Refusing to load it."
        )
    return f"{module}.{cls}"


def _bit_generator(node: Mapping[str, Any], file: str) -> str:
    try:
        name = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        name = None
    if not isinstance(name, str):
        raise IntegrityError(
            f"{file}: a random generator without its bit generator's name. Refusing to load it."
        )
    return name


# --------------------------------------------------------------------------- checking
def check(found: Iterable[tuple[str, str]], allow: Allowlist, *, file: str) -> list[str]:
    """Check names as strings, then import the approved ones and check what each names.

    Returns:
        The approved names (what skops is told to trust).

    Raises:
        UntrustedTypesError: a name that is denied or not allowed for its kind of node (before
            anything is imported), or one whose object is not exactly what its name says.
    """
    found = set(found)
    names = {name for _, name in found}
    bad = sorted(n for n in names if denied(n))
    if bad:
        raise UntrustedTypesError(
            [shorten(n) for n in bad], file=file,
            reason="names mlpact never loads, whatever is trusted (their objects touch files, "
            "processes or threads, or load code)",
            hint="No --trust can allow these. The file was crafted, or holds something that is not "
            "a model: do not use it.",
        )  # fmt: skip
    refused = sorted({name for kind, name in found if not allow.allows(kind, name)})
    if refused:
        raise UntrustedTypesError([shorten(r) for r in refused], file=file)
    wrong = sorted({name for kind, name in found if not _is_itself(kind, name)})
    if wrong:
        raise UntrustedTypesError(
            [shorten(w) for w in wrong], file=file,
            reason="names that are not exactly a class or function of that module here (missing, "
            "re-exported from another module, or built on a denied class)",
            hint="Install the packages the version was saved with; a name re-exported from another "
            "module is never loaded under that module's name.",
        )  # fmt: skip
    return sorted(names)


def _is_itself(kind: str, name: str) -> bool:
    """Import the module of an approved name; the object there must be exactly that name."""
    if name.startswith("builtins."):
        return True  # SAFE_BUILTINS only: nothing to import
    if kind == "bit_generator":
        name = BIT_GENERATORS[name]
    elif kind == "method":
        name = name.rpartition(".")[0]  # module.Class.method: the class must be itself
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception:  # missing here, or a module that fails to import
        return False
    if isinstance(obj, type):
        mro = [f"{c.__module__}.{c.__qualname__}" for c in obj.__mro__[:-1]]  # all but object
        return mro[0] == name and not any(denied(n) for n in mro)
    if kind == "function" and type(obj).__name__ in ("ufunc", "_UFuncWrapper"):
        return getattr(obj, "__name__", None) == attr  # a ufunc's module is where NumPy/SciPy put it
    own = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    return kind in ("function", "type") and own == name and not denied(own)
