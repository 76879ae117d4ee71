"""mlpact's side of the cold-start benchmark: load a version from the store, predict one row.

usage: ours_predict_1row.py REF STORE ROW_JSON
"""

import json
import sys

import mlpact

model = mlpact.load(sys.argv[1], store=sys.argv[2])
print(model.predict(json.loads(sys.argv[3]))[0])
