"""The recipe book: what the notebooks and the ``vla0-smol`` command use to run it.

* ``ablation``: the blog's PushT ablation grids (one training run and one evaluation per arm).
* ``report``: tables and plots, always computed from the saved JSON results.
* ``evidence``: 95% intervals on success rates and the sentence comparing a run with the blog;
  ``figures``: an ablation's training curves and rollout frames.
* ``anatomy`` and ``anatomy_figures``: a trained checkpoint opened up (the chapter
  ``inside_the_policy``): its input, token probabilities, attention, the fast decoder's drafts.
* ``resolution``, ``prompt_cost``, ``masked_completion``, ``decode_cost``: what one bin is worth
  (absolute and relative actions), the system prompt's tokens, the model's predictions under
  character masks, decodes and decoding time per episode of each execution mode.
* ``recipes``: the papermill runner of ``recipes/*.ipynb``; ``build``: the executed book (notebooks,
  made small by ``compact``), its site (``site``) and the site's check in Chromium (``browser``).
* ``demo``: ``make demo``; ``terminal``: its readable output; ``paths``: where chapters read and write.
* ``cli``: the ``vla0-smol`` command (the console script of ``pyproject.toml``).

The book may import every room (the method, PushT, LIBERO, SO100); no other room imports it.
"""
