"""Build the embedded presets shipped in ``vla0_smol/presets/`` (run by maintainers, not users).

``python -m vla0_smol.presets.build`` writes:

* ``tiny/``: a SmolVLM-architecture model config of a few million parameters (96x96 images), a
  byte-level BPE tokenizer trained locally with the ``tokenizers`` library (digits as single
  tokens, spaces as their own token before a digit, SmolVLM's special tokens and chat template),
  and the SmolVLM image/video processor configs. ``AutoProcessor.from_pretrained`` and
  ``AutoConfig.from_pretrained`` load it exactly as they load
  ``HuggingFaceTB/SmolVLM2-500M-Video-Instruct``.
* ``smolvlm2_500m/config.json``: the real SmolVLM2-500M architecture (507.5 M parameters), for
  random-weight tests and benchmarks without a download.

The outputs are committed; re-running the script reproduces them byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, SmolVLMConfig
from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor
from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE, SmolVLMProcessor
from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

HERE = Path(__file__).parent

# SmolVLM2's special tokens (names as in its tokenizer), in the order they get ids.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    "<end_of_utterance>",
]

# Words the tiny tokenizer should know as whole tokens: prompt scaffolding and task strings
# of the benchmarks in the book (PushT, LIBERO, SO100 pick-and-place).
CORPUS = [
    "User: Assistant: System: Task: State: Actions:",
    "Push the T-shaped block onto the T-shaped target.",
    "pick up the ketchup and place it in the basket",
    "pick up the alphabet soup and place it in the basket",
    "put the bowl on the plate",
    "open the top drawer and put the bowl inside",
    "put the black bowl on the wooden cabinet",
    "turn on the stove and put the moka pot on it",
    "open the microwave and put the bowl in it",
    "Grasp a lego block and put it in the bin.",
    "You are a robot. Read the image, the task and the state, and output the action chunk as space-separated integers.",
] * 20

TINY_IMAGE_SIZE = 96
TINY_PATCH = 16
TINY_SCALE = 2


def build_tokenizer(vocab_size: int = 640) -> PreTrainedTokenizerFast:
    """A byte-level BPE that splits digits one by one, like SmolLM2's tokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[3:],
        model_input_names=["input_ids", "attention_mask"],
        chat_template=DEFAULT_CHAT_TEMPLATE,
    )
    return fast


def tiny_config(vocab_size: int, tokenizer: PreTrainedTokenizerFast) -> SmolVLMConfig:
    """A SmolVLM of a few million parameters; same classes as SmolVLM2-500M."""
    return SmolVLMConfig(
        vision_config=dict(
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=TINY_IMAGE_SIZE,
            patch_size=TINY_PATCH,
        ),
        text_config=dict(
            model_type="llama",
            hidden_size=256,
            intermediate_size=640,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=vocab_size,
            max_position_embeddings=1024,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            pad_token_id=tokenizer.pad_token_id,
        ),
        scale_factor=TINY_SCALE,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )


def smolvlm2_500m_config() -> SmolVLMConfig:
    """The SmolVLM2-500M-Video-Instruct architecture (hand-written; weights come from the hub)."""
    return SmolVLMConfig(
        vision_config=dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            image_size=512,
            patch_size=16,
        ),
        text_config=dict(
            model_type="llama",
            hidden_size=960,
            intermediate_size=2560,
            num_hidden_layers=32,
            num_attention_heads=15,
            num_key_value_heads=5,
            vocab_size=49280,
            max_position_embeddings=8192,
            rms_norm_eps=1e-5,
            rope_theta=100000.0,
            tie_word_embeddings=False,
            pad_token_id=2,
        ),
        scale_factor=4,
        image_token_id=49190,
        pad_token_id=2,
    )


def build_tiny(out: Path) -> None:
    tokenizer = build_tokenizer()
    vocab = len(tokenizer)
    image_seq_len = (TINY_IMAGE_SIZE // TINY_PATCH) ** 2 // TINY_SCALE**2
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(
            do_image_splitting=False,
            size={"longest_edge": TINY_IMAGE_SIZE},
            max_image_size={"longest_edge": TINY_IMAGE_SIZE},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        ),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=image_seq_len,
        chat_template=DEFAULT_CHAT_TEMPLATE,
    )
    out.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out)
    tiny_config(vocab, tokenizer).save_pretrained(out)


def main() -> None:
    build_tiny(HERE / "tiny")
    smolvlm2_500m_config().save_pretrained(HERE / "smolvlm2_500m")
    print(f"wrote {HERE / 'tiny'} and {HERE / 'smolvlm2_500m'}")


if __name__ == "__main__":
    main()
