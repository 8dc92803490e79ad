"""Generators for the verifiable task kinds: each computes its answer, so answers are correct by construction.

A generator is ``gen(rng) -> (prompt, answer, checker)``; a *kind* bundles a title, the task's
categories and a generator, and :mod:`motivlab.evals.data.build` draws several sub-tasks per
task from it. Every word list and template here was written for motivlab.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

Item = tuple[str, str, str]  # (prompt, answer, checker)
Gen = Callable[[random.Random], Item]

ANSWER_HINT = " Reply with the answer only."
NAMES = ("Ana", "Ben", "Cleo", "Dev", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kira", "Lars")
NONSENSE = ("blicks", "wugs", "daxes", "feps", "zorbs", "toves", "glims", "snarks", "vexes", "plonks")
WORDS = (
    "lantern", "harbour", "pebble", "orchard", "velvet", "compass", "thimble", "meadow", "saddle",
    "ribbon", "cobweb", "walrus", "pancake", "trumpet", "glacier", "kettle", "marble", "quiver",
)


@dataclass(frozen=True)
class VerifiableKind:
    title: str
    categories: tuple[str, ...]
    gen: Gen


def _num(x: float) -> str:
    """Answers as text: integers without a decimal point, other values rounded to 4 places."""
    return str(int(x)) if float(x).is_integer() else f"{x:.4f}".rstrip("0")


# --------------------------------------------------------------------------------------------
# math


def _arith(rng: random.Random) -> Item:
    a, b, c = rng.randint(12, 99), rng.randint(3, 29), rng.randint(10, 500)
    return f"Compute {a} × {b} + {c}.{ANSWER_HINT}", _num(a * b + c), "numeric"


def _linear(rng: random.Random) -> Item:
    x, a, b = rng.randint(-15, 25), rng.randint(2, 12), rng.randint(-40, 60)
    return f"Solve for x: {a}x + {b} = {a * x + b}.{ANSWER_HINT}", _num(x), "numeric"


def _percent(rng: random.Random) -> Item:
    p, base = rng.choice((5, 10, 15, 20, 25, 40, 60, 75)), rng.randint(2, 40) * 20
    return f"What is {p}% of {base}?{ANSWER_HINT}", _num(p * base / 100), "numeric"


def _gcd(rng: random.Random) -> Item:
    g = rng.randint(2, 15)
    a, b = g * rng.randint(2, 20), g * rng.randint(2, 20)
    return f"What is the greatest common divisor of {a} and {b}?{ANSWER_HINT}", _num(math.gcd(a, b)), "numeric"


def _series(rng: random.Random) -> Item:
    n = rng.randint(10, 200)
    return f"What is the sum of the integers from 1 to {n}?{ANSWER_HINT}", _num(n * (n + 1) // 2), "numeric"


def _area(rng: random.Random) -> Item:
    w, h = rng.randint(3, 40), rng.randint(3, 40)
    if rng.random() < 0.5:
        return f"A rectangle is {w} cm wide and {h} cm tall. What is its area in cm²?{ANSWER_HINT}", _num(w * h), "numeric"
    return (f"A triangle has base {w} m and height {h} m. What is its area in m²?{ANSWER_HINT}",
            _num(w * h / 2), "numeric")


def _modular(rng: random.Random) -> Item:
    a, m = rng.randint(100, 9999), rng.randint(3, 13)
    return f"What is the remainder when {a} is divided by {m}?{ANSWER_HINT}", _num(a % m), "numeric"


def _word_problem(rng: random.Random) -> Item:
    name = rng.choice(NAMES)
    boxes, per, eaten = rng.randint(3, 12), rng.randint(4, 15), rng.randint(1, 9)
    return (f"{name} buys {boxes} boxes of {per} apples each and gives away {eaten} apples. How many apples "
            f"does {name} have left?{ANSWER_HINT}", _num(boxes * per - eaten), "numeric")


# --------------------------------------------------------------------------------------------
# puzzles


def _sequence(rng: random.Random) -> Item:
    start = rng.randint(1, 20)
    if rng.random() < 0.5:
        step = rng.randint(2, 11)
        seq = [start + step * i for i in range(6)]
    else:
        ratio = rng.randint(2, 3)
        seq = [start * ratio**i for i in range(6)]
    shown = ", ".join(str(v) for v in seq[:5])
    return f"What number comes next in the sequence {shown}, …?{ANSWER_HINT}", _num(seq[5]), "numeric"


def _reverse(rng: random.Random) -> Item:
    w = rng.choice(WORDS)
    return f"Write the word '{w}' backwards, letter by letter.{ANSWER_HINT}", w[::-1], "exact"


def _letter_count(rng: random.Random) -> Item:
    w = rng.choice(WORDS)
    letter = rng.choice(sorted(set(w)))
    return f"How many times does the letter '{letter}' appear in the word '{w}'?{ANSWER_HINT}", _num(w.count(letter)), "numeric"


def _caesar(rng: random.Random) -> Item:
    w, k = rng.choice(WORDS), rng.randint(1, 5)
    enc = "".join(chr((ord(ch) - 97 + k) % 26 + 97) for ch in w)
    return (f"The word '{enc}' was encoded by shifting every letter {k} places forward in the alphabet "
            f"(wrapping z to a). Decode it.{ANSWER_HINT}", w, "exact")


def _think_number(rng: random.Random) -> Item:
    x, a, b = rng.randint(2, 40), rng.randint(2, 9), rng.randint(1, 30)
    return (f"I think of a number, multiply it by {a} and add {b}; the result is {a * x + b}. "
            f"What was my number?{ANSWER_HINT}", _num(x), "numeric")


# --------------------------------------------------------------------------------------------
# logical reasoning


def _ordering(rng: random.Random) -> Item:
    people = rng.sample(NAMES, 4)  # people[0] is the tallest
    clues = [f"{people[i]} is taller than {people[i + 1]}" for i in range(3)]
    rng.shuffle(clues)
    ask_tallest = rng.random() < 0.5
    question = "Who is the tallest?" if ask_tallest else "Who is the shortest?"
    answer = people[0] if ask_tallest else people[-1]
    return f"{'. '.join(clues)}. {question}{ANSWER_HINT}", answer, "exact"


def _syllogism(rng: random.Random) -> Item:
    a, b, c = rng.sample(NONSENSE, 3)
    valid = rng.random() < 0.5
    if valid:
        text = f"All {a} are {b}. All {b} are {c}. Does it follow that all {a} are {c}?"
    else:
        text = f"All {a} are {b}. Some {b} are {c}. Does it follow that some {a} are {c}?"
    return f"{text} Answer yes or no only.", "yes" if valid else "no", "exact"


def _boolean(rng: random.Random) -> Item:
    p, q, r = (rng.random() < 0.5 for _ in range(3))
    forms = (
        ("(p and not q) or r", (p and not q) or r),
        ("not (p or q) and r", (not (p or q)) and r),
        ("(p or q) and not r", (p or q) and not r),
        ("p and (q or not r)", p and (q or not r)),
    )
    expr, value = rng.choice(forms)
    vals = f"p is {str(p).lower()}, q is {str(q).lower()} and r is {str(r).lower()}"
    return f"If {vals}, is '{expr}' true or false? Answer true or false only.", str(value).lower(), "exact"


def _ages(rng: random.Random) -> Item:
    x, y, c = rng.sample(NAMES, 3)
    cy, mult, diff = rng.randint(3, 12), rng.randint(2, 4), rng.randint(1, 9)
    return (f"{x} is {diff} years older than {y}. {y} is {mult} times as old as {c}, who is {cy}. "
            f"How old is {x}?{ANSWER_HINT}", _num(cy * mult + diff), "numeric")


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _weekday(rng: random.Random) -> Item:
    d, n = rng.randrange(7), rng.randint(3, 60)
    return f"If today is {DAYS[d]}, what day of the week will it be in {n} days?{ANSWER_HINT}", DAYS[(d + n) % 7].lower(), "exact"


# --------------------------------------------------------------------------------------------
# programming: a small Python expression and its value, computed alongside it (nothing is eval'ed)


def _expr_item(expr: str, value: int) -> Item:
    return f"What does the Python expression `{expr}` evaluate to?{ANSWER_HINT}", _num(value), "numeric"


def _py_sum_range(rng: random.Random) -> Item:
    a = rng.randint(0, 20)
    b = a + rng.randint(5, 30)
    return _expr_item(f"sum(range({a}, {b}))", sum(range(a, b)))


def _py_comprehension(rng: random.Random) -> Item:
    n, k = rng.randint(20, 200), rng.randint(2, 9)
    return _expr_item(f"len([x for x in range({n}) if x % {k} == 0])", len([x for x in range(n) if x % k == 0]))


def _py_divmod(rng: random.Random) -> Item:
    a, b, c, d = rng.randint(50, 999), rng.randint(2, 17), rng.randint(50, 999), rng.randint(2, 17)
    return _expr_item(f"{a} // {b} + {c} % {d}", a // b + c % d)


def _py_sorted_index(rng: random.Random) -> Item:
    xs = rng.sample(range(-50, 100), 6)
    i = rng.randint(0, 5)
    return _expr_item(f"sorted({xs})[{i}]", sorted(xs)[i])


def _py_string_len(rng: random.Random) -> Item:
    w1, w2 = rng.sample(WORDS, 2)
    return f"What does the Python expression `len('{w1} {w2}')` evaluate to?{ANSWER_HINT}", _num(len(f"{w1} {w2}")), "numeric"


# --------------------------------------------------------------------------------------------
# translation: single words from small dictionaries we wrote; the reply must contain the word

VOCAB: dict[str, dict[str, str]] = {
    "Spanish": dict(one="uno", two="dos", three="tres", four="cuatro", five="cinco", Monday="lunes",
                    Friday="viernes", Sunday="domingo", red="rojo", blue="azul", green="verde", dog="perro",
                    cat="gato", horse="caballo", bread="pan", water="agua", cheese="queso", milk="leche"),
    "French": dict(one="un", two="deux", three="trois", four="quatre", five="cinq", Monday="lundi",
                   Friday="vendredi", Sunday="dimanche", red="rouge", blue="bleu", green="vert", dog="chien",
                   cat="chat", horse="cheval", bread="pain", water="eau", cheese="fromage", milk="lait"),
    "German": dict(one="eins", two="zwei", three="drei", four="vier", five="fünf", Monday="Montag",
                   Friday="Freitag", Sunday="Sonntag", red="rot", blue="blau", green="grün", dog="Hund",
                   cat="Katze", horse="Pferd", bread="Brot", water="Wasser", cheese="Käse", milk="Milch"),
}


def _word_translation(language: str) -> Gen:
    def gen(rng: random.Random) -> Item:
        word = rng.choice(sorted(VOCAB[language]))
        return (f"Translate the English word '{word}' into {language}. Reply with the {language} word only.",
                VOCAB[language][word], "contains")
    return gen


# --------------------------------------------------------------------------------------------
# scientific: unit conversions, kinematics and atom counts computed from the formula itself

_FORMULAS = ("H2O", "CO2", "CH4", "NH3", "NaCl", "H2SO4", "C6H12O6", "C2H5OH", "CaCO3", "HNO3", "O3", "C3H8")


def atom_count(formula: str) -> int:
    """Atoms in a simple formula without brackets: 'C2H5OH' -> 9."""
    return sum(int(n) if n else 1 for _, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula))


def _atoms(rng: random.Random) -> Item:
    f = rng.choice(_FORMULAS)
    return f"How many atoms are in one molecule of {f}?{ANSWER_HINT}", _num(atom_count(f)), "numeric"


def _units(rng: random.Random) -> Item:
    conversions = (
        ("hours", "seconds", 3600), ("kilometres", "metres", 1000), ("kilograms", "grams", 1000),
        ("litres", "millilitres", 1000), ("days", "hours", 24), ("minutes", "seconds", 60),
    )
    src, dst, factor = rng.choice(conversions)
    n = rng.randint(2, 48)
    return f"How many {dst} are in {n} {src}?{ANSWER_HINT}", _num(n * factor), "numeric"


def _speed(rng: random.Random) -> Item:
    t, v = rng.randint(2, 9), rng.randint(3, 30) * 5
    return (f"A train travels {v * t} km in {t} hours at constant speed. What is its speed in km/h?{ANSWER_HINT}",
            _num(v), "numeric")


def _density(rng: random.Random) -> Item:
    v, rho = rng.randint(2, 20), rng.randint(2, 12)
    return (f"A block has a mass of {rho * v} g and a volume of {v} cm³. What is its density in g/cm³?{ANSWER_HINT}",
            _num(rho), "numeric")


# --------------------------------------------------------------------------------------------
# repetitive / exhaustive: counting in a long generated list


def _count_in_list(rng: random.Random) -> Item:
    words = [rng.choice(WORDS[:6]) for _ in range(rng.randint(25, 45))]
    target = rng.choice(WORDS[:6])
    return (f"Count how many times the word '{target}' appears in this list: {', '.join(words)}.{ANSWER_HINT}",
            _num(words.count(target)), "numeric")


def _count_multiples(rng: random.Random) -> Item:
    k, n = rng.randint(3, 9), rng.randint(60, 250)
    return (f"Go through every whole number from 1 to {n} and count those divisible by {k}. How many are "
            f"there?{ANSWER_HINT}", _num(n // k), "numeric")


KINDS: dict[str, list[VerifiableKind]] = {
    "math": [
        VerifiableKind("Mental arithmetic", ("math",), _arith),
        VerifiableKind("Solve a linear equation", ("math",), _linear),
        VerifiableKind("Percentages", ("math",), _percent),
        VerifiableKind("Greatest common divisor", ("math",), _gcd),
        VerifiableKind("Sum of a series", ("math",), _series),
        VerifiableKind("Areas of shapes", ("math",), _area),
        VerifiableKind("Remainders", ("math",), _modular),
        VerifiableKind("Word problems with apples", ("math", "logical_reasoning"), _word_problem),
    ],
    "puzzles": [
        VerifiableKind("Continue the sequence", ("puzzles", "math"), _sequence),
        VerifiableKind("Spell it backwards", ("puzzles",), _reverse),
        VerifiableKind("Count the letters", ("puzzles",), _letter_count),
        VerifiableKind("Decode a shifted word", ("puzzles", "logical_reasoning"), _caesar),
        VerifiableKind("Guess my number", ("puzzles", "math"), _think_number),
    ],
    "logical_reasoning": [
        VerifiableKind("Who is tallest", ("logical_reasoning", "puzzles"), _ordering),
        VerifiableKind("Syllogisms with nonsense words", ("logical_reasoning",), _syllogism),
        VerifiableKind("Evaluate a Boolean formula", ("logical_reasoning",), _boolean),
        VerifiableKind("Age riddles", ("logical_reasoning", "math"), _ages),
        VerifiableKind("Days of the week", ("logical_reasoning",), _weekday),
    ],
    "programming": [
        VerifiableKind("Evaluate a range sum", ("programming", "math"), _py_sum_range),
        VerifiableKind("Evaluate a list comprehension", ("programming",), _py_comprehension),
        VerifiableKind("Integer division and remainder", ("programming", "math"), _py_divmod),
        VerifiableKind("Index into a sorted list", ("programming",), _py_sorted_index),
        VerifiableKind("Length of a string", ("programming",), _py_string_len),
    ],
    "translation": [
        VerifiableKind(f"Single words into {lang}", ("translation",), _word_translation(lang)) for lang in VOCAB
    ],
    "scientific": [
        VerifiableKind("Count the atoms in a molecule", ("scientific",), _atoms),
        VerifiableKind("Unit conversions", ("scientific", "math"), _units),
        VerifiableKind("Average speed", ("scientific", "math"), _speed),
        VerifiableKind("Density", ("scientific", "math"), _density),
    ],
    "repetitive": [
        VerifiableKind("Count words in a long list", ("repetitive",), _count_in_list),
        VerifiableKind("Count multiples exhaustively", ("repetitive", "math"), _count_multiples),
    ],
}
