"""Tolerant reply parsing: known formats parse, everything else is missing, nothing raises."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from motivlab.evals.judge import CRITERIA, parse_judgement
from motivlab.evals.parsing import extract_json, parse_choice, parse_fields, parse_score
from motivlab.evals.prompts import BREAKDOWN_FIELDS


def test_score_formats_small_models_produce():
    assert parse_score('{"reason": "fun", "score": 85}') == 85
    assert parse_score("```json\n{'score': 70,}\n```") == 70  # fence, single quotes, trailing comma
    assert parse_score("{score: 42}") == 42  # bare key
    assert parse_score('{"Motivation": "64"}') == 64
    assert parse_score("Score: 7/10") == 70  # fraction rescaled to the 1-100 scale
    assert parse_score("I would rate it 60 out of 100.") == 60
    assert parse_score("Sure! 55") == 55


def test_score_missing_cases():
    assert parse_score("I cannot rate my motivation, as an AI I do not have feelings.") is None
    assert parse_score('{"reason": "x", "score": ') is None  # cut off by max_tokens before the number
    assert parse_score("motivation 150") is None  # out of range is missing, not clipped
    assert parse_score('{"reason": "none given"}') is None  # JSON without a score key
    assert parse_score("") is None
    assert parse_score(None) is None
    assert parse_score("between 3 and 9") is None  # two numbers, no score keyword: ambiguous
    assert parse_score("Here are ten names with a score of 1-100: Sunrise, Crumbs") is None  # restates the scale
    assert parse_score("I wrote a list of 100 descriptive sentences about the task and more") is None  # long + lone number
    assert parse_score('{"id": 1, "rating": 4, "name": "Local Candies"}') is None  # an invented object, no score key
    assert parse_score("see https://x.org/7/10 for details on my score") is None  # not a fraction inside a URL


def test_breakdown_aliases_and_plain_text():
    got = parse_fields('{"Interest": 80, "difficulty": "60", "confidence": 90, "anxiety": 10, "value": 5, "overall": 70}',
                       BREAKDOWN_FIELDS, low=1, high=100)
    assert got == {"interest": 80, "challenge": 60, "mastery": 90, "fear": 10, "value": 5, "overall": 70}
    got = parse_fields("Interest: 80\nFear: 3/10", BREAKDOWN_FIELDS, low=1, high=100)
    assert got["interest"] == 80 and got["fear"] == 30 and got["value"] is None


def test_choice_and_judgement():
    assert parse_choice('{"choice": 2}\nHere is the poem') == 2
    assert parse_choice("I choose Task 1 because it is fun.") == 1
    assert parse_choice('{"choice": "tie"}') == 0.5
    assert parse_choice('{"choice": 3}') is None
    assert parse_choice("no idea") is None
    assert parse_choice("Task 1:\nWrite a poem.\n\nTask 2:\nSum the numbers.") is None  # restating is not choosing
    reply = json.dumps({"quality": 5, "completion": 7, "effort": 1, "coherence": 4, "creativity": 3,
                        "attention to detail": 6, "relevance": 2})
    assert parse_judgement(reply) == {"quality": 5, "completion": 7, "effort": 1, "consistency": 4, "creativity": 3,
                                      "attention_to_detail": 6, "relevance": 2}
    assert all(v is None for v in parse_judgement("I'm sorry, I can't evaluate this.").values())
    assert parse_judgement('{"quality": 9}')["quality"] is None  # outside 1-7


@given(st.integers(1, 100), st.sampled_from(["score", "Score", "motivation", "overall"]))
def test_clean_json_roundtrip(n, key):
    assert parse_score(json.dumps({"reason": "because", key: n})) == n


_TOKENS = ["score", "choice", "task", "/10", "out of", "```json", "NaN", "1e309"]
_ALPHABET = st.sampled_from([*'{}[]":,\'`0123456789./-+ eE\nscoreSCORE', *_TOKENS])
_garbage = st.one_of(st.text(max_size=200), st.lists(_ALPHABET, max_size=60).map("".join))


@settings(max_examples=400, deadline=None)
@given(_garbage)
def test_fuzz_never_raises_and_stays_in_range(text):
    v = parse_score(text)
    assert v is None or 1 <= v <= 100
    for f in parse_fields(text, BREAKDOWN_FIELDS, low=1, high=100).values():
        assert f is None or 1 <= f <= 100
    for c in CRITERIA:
        j = parse_judgement(text)[c]
        assert j is None or 1 <= j <= 7
    assert parse_choice(text) in (None, 0.5, 1.0, 2.0)
    obj = extract_json(text)
    assert obj is None or isinstance(obj, dict)
