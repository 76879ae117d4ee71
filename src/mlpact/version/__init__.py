"""A saved version: its on-disk format and trust rule (bundle, trust, usercode), writing one
(write, recording) and loading one (load, model), what it records to answer for its behaviour
(golden, inspection, envlock, report), and moving it elsewhere (portable, mlflow).

PyTorch versions are the sibling package `mlpact.torch`; only `load` reaches into it.
"""
