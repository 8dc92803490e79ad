"""Token-by-token generation, in one place for RL and evaluation.

Two decoding loops share one draw (:mod:`.draw`), one way to call the model over its key/value
cache (:mod:`.cache`) and one tokenisation (:mod:`.text`):

- :func:`sample` (:mod:`.sampler`), the RL sampler: ``n_per_prompt`` rollouts per prompt with
  per-token log-probabilities (the "old" log-probs of GRPO), finished rows riding along until
  the batch ends. Used by the trainer, the steering intervention and sampled measurement.
- :func:`decode` (:mod:`.decoder`), the evaluation decoder: many short replies to long prompts
  with a shared prefix prefilled once, a static cache, finished rows dropped, optional grammar
  and stop rule. Used by the local chat backend of ``motivlab eval``.

Both are pure functions of (model, prompts, ``torch.Generator``): the same generator state gives
the same tokens.
"""

from motivlab.models.generation.decoder import Decoded, StopRule, common_prefix_length, decode
from motivlab.models.generation.draw import DRAW_METHODS, DrawMethod, draw, nucleus_logprobs
from motivlab.models.generation.sampler import Samples, sample
from motivlab.models.generation.text import cached_stop_table, encode_left_padded, pad_id_of, render_prompts

__all__ = [
    "DRAW_METHODS",
    "Decoded",
    "DrawMethod",
    "Samples",
    "StopRule",
    "cached_stop_table",
    "common_prefix_length",
    "decode",
    "draw",
    "encode_left_padded",
    "nucleus_logprobs",
    "pad_id_of",
    "render_prompts",
    "sample",
]
