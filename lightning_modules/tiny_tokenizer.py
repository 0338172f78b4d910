"""A small Qwen2-style tokenizer trained offline, for the tiny stand-in vision-language model.

No tokenizer can be downloaded on the machines this project is tested on, so the tiny model gets its own: a byte-level
BPE trained deterministically on generated text of the kind the project feeds the policy (GRPO prompts about boxes,
options, spatial relations, numbers), wrapped as a :class:`transformers.Qwen2Tokenizer` with a Qwen-style chat template.

Run ``python -m lightning_modules.tiny_tokenizer`` to print the vocabulary size and a sample encoding.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import AddedToken, Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

#: Control tokens of the Qwen2-VL tokenizer, in its id order. ``Qwen2VLProcessor`` and the model config look up
#: ``<|image_pad|>``, ``<|video_pad|>``, ``<|vision_start|>`` and ``<|vision_end|>`` by these names.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Format tags as single *non-special* tokens: they must survive ``decode(skip_special_tokens=True)`` because the
#: format reward reads them, and one token per tag makes the format cheap for a tiny random model to learn.
TAG_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")

#: Qwen2-VL's chat template without the default system prompt (the paper uses none); ``add_vision_id`` and
#: ``add_generation_prompt`` behave as in Qwen2-VL.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

FORMAT_SUFFIX = "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."

_COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "gray", "brown", "cyan", "pink")
_SHAPES = ("square", "circle", "triangle", "rectangle", "box", "cube", "sphere", "cylinder", "star", "object")
_RELATIONS = ("left", "right", "above", "below", "closer", "farther", "in front of", "behind", "next to", "inside")
_CATEGORIES = ("person", "car", "dog", "cat", "bus", "chair", "bottle", "cup", "bird", "truck", "horse", "sheep")
_WORDS = (
    "the image shows a {c} {s} on the {r} side",
    "count the number of {s}s",
    "the {c} {s} is {r} of the {c2} {s2}",
    "so the answer is",
    "first, look at the {s} in the image",
    "which option is correct",
    "the angle is {n} degrees and the length is {m}",
    "there are {n} {c} {s}s and {m} {c2} {s2}s",
    "is the {c} {s} {r} the {c2} {s2}? answer yes or no",
    "the bounding box of the {c} {s} is",
    "find all {cat} in the image and give their boxes",
    "Please output the bounding box of the {c} {s}.",
    "As shown in the figure, the triangle has sides {n} and {m}. What is the area?",
    "Which of these is a {s}? Choices: (A) {c} (B) {c2} (C) {s2} (D) none",
)


def _box(rng: random.Random) -> list[int]:
    x1, y1 = rng.randrange(0, 100), rng.randrange(0, 100)
    return [x1, y1, x1 + rng.randrange(1, 100), y1 + rng.randrange(1, 100)]


def _sentence(rng: random.Random) -> str:
    return rng.choice(_WORDS).format(
        c=rng.choice(_COLOURS),
        c2=rng.choice(_COLOURS),
        s=rng.choice(_SHAPES),
        s2=rng.choice(_SHAPES),
        r=rng.choice(_RELATIONS),
        cat=rng.choice(_CATEGORIES),
        n=rng.randrange(0, 200),
        m=rng.randrange(0, 200),
    )


def _answer(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(_box(rng))
    if kind == 1:
        boxes = [{"Position": _box(rng), "Confidence": rng.choice((1, 0.9, 0.5))} for _ in range(rng.randrange(1, 4))]
        return str(boxes)
    if kind == 2:
        return rng.choice("ABCDEFGH")
    if kind == 3:
        return str(rng.randrange(0, 1000)) if rng.random() < 0.5 else f"{rng.uniform(0, 100):.2f}"
    if kind == 4:
        return rng.choice(("yes", "no", "left", "right", "above", "below"))
    return f"{rng.choice(_COLOURS)} {rng.choice(_SHAPES)}"


def training_corpus(num_lines: int = 3000, seed: int = 0) -> Iterator[str]:
    """Yield generated lines resembling the project's prompts and completions.

    Args:
        num_lines: How many lines to yield (prompts and completions alternate).
        seed: Seed of the generator; the same seed yields the same lines.
    """
    rng = random.Random(seed)
    for i in range(num_lines):
        if i % 2 == 0:
            options = " ".join(f"{letter}. {rng.choice(_COLOURS)}" for letter in "ABCD"[: rng.randrange(2, 5)])
            yield f"{_sentence(rng).capitalize()}? {options if rng.random() < 0.4 else ''} {FORMAT_SUFFIX}"
        else:
            yield f"<think> {_sentence(rng)}. {_sentence(rng)}. </think><answer>{_answer(rng)}</answer>"


def _qwen2_pipeline(tokenizer: Tokenizer) -> None:
    # Must match what ``Qwen2Tokenizer.__init__`` rebuilds on load, or the merges would not apply to the same words.
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()


def build_tiny_tokenizer(vocab_size: int = 1024, corpus_lines: int = 3000, seed: int = 0) -> Qwen2Tokenizer:
    """Train a byte-level BPE on :func:`training_corpus` and wrap it as a Qwen2 tokenizer with a chat template.

    Digits stay single tokens (Qwen2's pre-tokenizer splits numbers digit by digit), so boxes such as
    ``[12, 40, 56, 90]`` cost one token per digit and every number is expressible.

    Args:
        vocab_size: Target vocabulary size including the 256 byte tokens, control tokens and format tags.
        corpus_lines: Number of generated training lines.
        seed: Seed of the generated corpus.

    Returns:
        A tokenizer whose ids ``0 .. len(SPECIAL_TOKENS) + len(TAG_TOKENS) - 1`` are the control tokens then the tags.

    Raises:
        ValueError: If ``vocab_size`` cannot hold the byte alphabet and the fixed tokens.
    """
    fixed = len(SPECIAL_TOKENS) + len(TAG_TOKENS)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < fixed + len(alphabet):
        raise ValueError(f"vocab_size={vocab_size} must be at least {fixed + len(alphabet)} (bytes + fixed tokens)")
    backend = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    _qwen2_pipeline(backend)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[*SPECIAL_TOKENS, *TAG_TOKENS],
        initial_alphabet=sorted(alphabet),
    )
    backend.train_from_iterator(training_corpus(corpus_lines, seed), trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(merge) for merge in model["merges"]],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=4096,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",  # batched generation needs prompts aligned on the right
    )
    tokenizer.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in TAG_TOKENS])
    return tokenizer


if __name__ == "__main__":
    tok = build_tiny_tokenizer()
    text = "<think> the red box is left </think><answer>[12, 40, 56, 90]</answer>"
    ids = tok(text)["input_ids"]
    print(f"vocab={len(tok)} tokens={len(ids)} {tok.convert_ids_to_tokens(ids)}")
    print(tok.decode(ids, skip_special_tokens=True))
