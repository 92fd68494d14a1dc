"""The book's home page (``docs/book/<profile>/README.md``, the site's ``index.html``): a way in.

What VLA-0 is, the commands that set the project up and run the book, the reading order (the
method first, then pretraining and the ablations, then the other robots, then the blog's tables),
what each profile needs and can show, and where a ``full`` run's results appear. The chapter list
is the chapters present in the book folder, in :data:`vla0_smol.book.recipes.RECIPES` order.
"""

from __future__ import annotations

from pathlib import Path

# Part of the book and one line on what each chapter shows (in the reading order of RECIPES).
PARTS = {
    "quickstart": ("Start here", "train and evaluate a PushT policy in three calls; watch one episode"),
    "action_as_text": ("The method", "actions become integers in the model's text: bins, prompt, loss"),
    "masking": ("The method", "masked action augmentation: what is hidden, and what the model guesses"),
    "grammar": ("The method", "grammar-constrained decoding: every chunk parses, even from an untrained model"),
    "ensembling": ("The method", "executing chunks: n steps ahead against temporal ensembling"),
    "inside_the_policy": ("The method", "one trained checkpoint opened up: input, tokens, attention, drafts"),
    "pretrain": ("Pretraining and the blog's ablations", "pretraining the tiny VLM (no PushT profile uses it yet)"),
    "ablation_lr": ("Pretraining and the blog's ablations", "four peak learning rates"),
    "ablation_vision": ("Pretraining and the blog's ablations", "vision encoder frozen or trained"),
    "ablation_state_action": ("Pretraining and the blog's ablations", "state tokens, relative actions"),
    "ablation_system_prompt": ("Pretraining and the blog's ablations", "with and without a system prompt"),
    "ablation_masking": ("Pretraining and the blog's ablations", "no, character or whole-action masking"),
    "ablation_ensembling": ("Pretraining and the blog's ablations", "temporal ensembling: success and cost"),
    "libero": ("Other robots", "LIBERO, the blog's headline benchmark"),
    "so100_deploy": ("Other robots", "fine-tune for an SO100 arm and run it (simulated bus by default)"),
    "blog_tables": ("The blog's claims", "every claim of the blog beside this run's number, with intervals"),
}

PROFILES = [
    (
        "`smoke`",
        "any CPU; the whole book in about 20 min on 2 cores (`make book`)",
        "that every chapter runs end to end; its numbers are not results (a tiny model trained for 6 steps, "
        "2 evaluation episodes of 20 steps, too short for even the scripted expert to finish)",
    ),
    (
        "`cpu`",
        "a laptop CPU, offline; a method chapter in under a minute, quickstart 12-22 min, one ablation arm "
        "about 20 min, the whole book 5-6 h",
        "the method chapters in full; the tiny preset's numbers on PushT (a policy of 3.5 M parameters "
        "trained from scratch: it does not reach the blog's success rates, and the chapters say so)",
    ),
    (
        "`full`",
        "GPUs and the Hugging Face hub (SmolVLM2-500M, `lerobot/pusht`, `HuggingFaceVLA/libero`); "
        "hours per ablation arm, a few GPU-days for LIBERO on 8 GPUs",
        "the blog's settings: its numbers, with 64 PushT episodes per arm and every LIBERO task",
    ),
]

VLA0 = (
    "**VLA-0** turns a vision-language model into a robot policy without changing the model: the "
    "next actions are written as integers in its ordinary text answer (each action dimension cut into "
    "512 bins), trained with the usual next-token loss and read back with a grammar that only allows "
    "well-formed chunks. **VLA-0-Smol** is the recipe for doing this with SmolVLM2-500M, small enough to "
    "fine-tune and run on one consumer GPU; this project packages it as a LeRobot policy plugin "
    "(`--policy.type=vla0_smol`) and as this book, whose chapters explain each piece and rerun each "
    "ablation of the blog."
)


def home_page(profile: str, chapters: list[tuple[str, str]], caveat: str) -> str:
    """The home page's Markdown; ``chapters`` are ``(file name, title)`` in reading order."""
    rows, part = [], None
    for i, (name, title) in enumerate(chapters, 1):
        stem = Path(name).stem
        this, what = PARTS.get(stem, ("Other chapters", ""))
        if this != part:
            rows.append(f"| | **{this}** | |")
            part = this
        rows.append(f"| {i} | [{title}]({name}) | {what} |")
    return "\n".join([
        f"# VLA-0-Smol recipe book, executed at the `{profile}` profile",
        "",
        f"> {caveat}",
        "",
        VLA0,
        "",
        "## Set up and run",
        "",
        "```bash",
        "make book        # creates .venv (Python 3.12) and installs the project, then executes every chapter",
        "make book-check  # opens every page of the built site in headless Chromium (screenshots in site/)",
        "```",
        "",
        f"`make book` runs `vla0-smol book build --profile {profile}`: the chapters below are the notebooks of",
        "`notebooks/` executed with their outputs, the site is written to `site/<profile>/`. These copies are",
        "artifacts: edit `notebooks/*.py` and build again (the tests fail when a chapter's code differs from",
        "its notebook). To open a chapter yourself, run `recipes/<chapter>.ipynb` in Jupyter and set `profile`",
        "in its parameters cell.",
        "",
        "## Reading order",
        "",
        "The method first (how an action becomes text, is masked, decoded and executed, then one trained",
        "policy opened up), then pretraining and the blog's ablations, then the other robots, and last the",
        "blog's claims beside this run's numbers.",
        "",
        "| | chapter | what it shows |",
        "|---|---|---|",
        *rows,
        "",
        "## Profiles: what each needs and what it can show",
        "",
        "Profiles change sizes, never code paths; every number in the book names the profile that produced it.",
        "",
        "| profile | needs | can show |",
        "|---|---|---|",
        *(f"| {name} | {needs} | {shows} |" for name, needs, shows in PROFILES),
        "",
        "A `full` run (`vla0-smol book build --profile full` on a GPU machine) writes its executed chapters",
        "to `docs/book/full/` and its site to `site/full/`, its results to `results/full/` and the blog's",
        "tables to `results/full/tables.md`; the `blog_tables` chapter then sets the blog's numbers beside",
        "numbers measured on the same protocol.",
        "",
    ])  # fmt: skip
