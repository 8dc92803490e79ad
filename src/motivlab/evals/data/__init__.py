"""The shipped task set (``tasks.jsonl``, ``choice_pairs.jsonl``) and the generator that writes it."""
