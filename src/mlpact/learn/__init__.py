"""Learning: the prepared data of a run (prepare), the scikit-learn pipeline (pipeline), the
scoring protocol (scoring), decisions on probabilities (decision) and the training-data profile
(profile). Builds on data/ and config/; knows nothing of the store or saved versions.
"""
