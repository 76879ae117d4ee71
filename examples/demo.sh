#!/usr/bin/env bash
# The tour `make demo` runs: train -> list -> predict -> show, on the embedded store (./.mlpact).
set -euo pipefail
cd "$(dirname "$0")/.."
mlpact() { .venv/bin/mlpact "$@"; }
mkdir -p demo-out

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step mlpact train examples/wine/config.yaml
mlpact train examples/wine/config.yaml

step mlpact models list wine
mlpact models list wine

step mlpact predict wine examples/wine/new_wines.csv -o demo-out/predictions.csv --keep sample_id
mlpact predict wine examples/wine/new_wines.csv -o demo-out/predictions.csv --keep sample_id

step "head demo-out/predictions.csv"
.venv/bin/python - <<'PY'
import pandas as pd
print(pd.read_csv("demo-out/predictions.csv").head(8).to_string(index=False, float_format="%.3f"))
PY

step "python: mlpact.load('wine').predict(...)"
.venv/bin/python - <<'PY'
import pandas as pd
import mlpact

model = mlpact.load("wine")
rows = pd.read_csv("examples/wine/new_wines.csv").head(3)
print(model, "->", model.predict(rows).tolist())
print("test", model.metrics["primary"], "=", round(model.metrics["test"][model.metrics["primary"]], 4))
PY

printf '\nThe store is ./.mlpact; run `make demo` again to see version numbers grow.\n'
