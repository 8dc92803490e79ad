"""The organism's character tokenizer: one token per character of the world's alphabet.

Built with ``tokenizers`` (a ``WordLevel`` vocabulary over single characters, split by a
one-character regex, joined back by ``Fuse``) and wrapped as a ``PreTrainedTokenizerFast`` so
``save_pretrained`` / ``AutoTokenizer.from_pretrained`` round-trip it and every HF tool can use it.

Why characters: the hint world's keys and notes are short strings over a small alphabet, and a
character tokenizer makes ``encode(prompt) + encode(completion) == encode(prompt + completion)``
hold exactly, which the teacher-forced (exact) measurement relies on.

Special tokens: ``<pad>`` (id 0), ``<bos>`` (1, prepended by the post-processor), ``<eos>`` (2),
``<unk>`` (3; never produced for a matching world — :func:`check_tokenizer_matches` refuses a
tokenizer that lacks a character of the world's alphabet). Padding is on the left, as batched
generation needs.
"""

from __future__ import annotations

from typing import Any

from motivlab.errors import MotivlabInputError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)


def build_char_tokenizer(alphabet: str) -> Any:
    """A fast char tokenizer whose vocabulary is the special tokens then ``sorted(set(alphabet))``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(alphabet))
    if not chars:
        raise MotivlabInputError("alphabet must contain at least one character, got ''")
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *chars])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        padding_side="left", model_max_length=4096,
    )


def encode_chars(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (one id per character)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def check_tokenizer_matches(tokenizer: Any, alphabet: str, *, where: str = "model") -> None:
    """Raise a clear error if ``tokenizer`` cannot encode every character of ``alphabet`` as one
    known token (a model trained for another world would silently see ``<unk>``)."""
    vocab = tokenizer.get_vocab()
    missing = sorted({c for c in alphabet if c not in vocab})
    if missing:
        shown = "".join(missing[:20])
        raise MotivlabInputError(
            f"{where}: tokenizer does not match the world's alphabet: {len(missing)} character(s) "
            f"missing from its vocabulary ({shown!r}); was it trained for another world?"
        )
    probe = alphabet[:64]
    if probe and len(encode_chars(tokenizer, probe)) != len(probe):
        raise MotivlabInputError(f"{where}: tokenizer is not a character tokenizer (it merges characters)")
