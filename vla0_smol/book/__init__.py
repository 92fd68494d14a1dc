"""The recipe book: what the notebooks and the ``vla0-smol`` command use to run it.

* ``ablation``: the blog's PushT ablation grids (one training run and one evaluation per arm).
* ``report``: tables and plots, always computed from the saved JSON results.
* ``recipes``: the papermill runner of ``recipes/*.ipynb``; ``demo``: ``make demo``.
* ``cli``: ``vla0-smol demo | recipes run | recipes list`` (the console script of ``pyproject.toml``).

The book may import every room (the method, PushT, LIBERO, SO100); nothing imports the book.
"""
