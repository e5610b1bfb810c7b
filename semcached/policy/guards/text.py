"""Text analysis shared by the verifier's checks (:mod:`semcached.policy.guards`): one
tokenizer and the hand-written word lists (stopwords, negations, numbers, dates, units, opposites,
aliases).

Nothing here is learned from data. :func:`analyze` is cached, because a query is checked against
several candidates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "ALIASES",
    "AMBIGUOUS_UNITS",
    "MONTHS",
    "NEGATIONS",
    "NUMBER_WORDS",
    "OPPOSITES",
    "PERIODS",
    "QUESTION_CLASSES",
    "RELATIVE_DAYS",
    "RELATIVE_MODIFIERS",
    "SCALES",
    "STOPWORDS",
    "TOKEN",
    "UNITS",
    "WEEKDAYS",
    "Text",
    "analyze",
    "fmt",
    "stem",
    "words",
]


def words(text: str) -> list[str]:
    return text.split()


# Numbers (with an ordinal/plural/k suffix), else words; a word may hold digits ("v2", "gpt4")
# and hyphens ("no-code", "state-of-the-art").
TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th|s|k|m)?\b|[^\W_]+(?:[-'\u2019][^\W_]+)*")

STOPWORDS = frozenset(
    words(
        """a an the of to in on at for from by with about as into onto over under than then and or
        but if so is are was were be been being am do does did doing have has had having i me my
        mine we us our you your yours he him his she her hers it its they them their this that
        these those there here what which who whom whose why how when where can could should
        would will shall may might must get got getting some any all each every such very just
        also too much many more most own same other another only really one ones s t way ways
        thing things make makes made good best better"""
    )
)

NEGATIONS = frozenset(
    words(
        """not no never none nobody nothing neither nor cannot cant dont doesnt didnt isnt arent
        wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt aint nowhere"""
    )
)

NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        words(
            """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
            fifteen sixteen seventeen eighteen nineteen twenty"""
        )
    )
}
NUMBER_WORDS.update(
    {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
     "ninety": 90}
)  # fmt: skip
# Scale words count only after a number ("5 million"); "thousands of" is no number.
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "dozen": 12}
# "one" is too often a pronoun ("which one", "one should") to count as a number.
del NUMBER_WORDS["one"]

MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ]
    )
    for name in names.split()
}
WEEKDAYS = {
    name: i
    for i, names in enumerate(
        [
            "monday mon",
            "tuesday tue tues",
            "wednesday wed",
            "thursday thu thurs",
            "friday fri",
            "saturday sat",
            "sunday sun",
        ]
    )
    for name in names.split()
}
RELATIVE_DAYS = frozenset(words("""today tomorrow yesterday tonight weekend weekday weekdays"""))
RELATIVE_MODIFIERS = frozenset(["next", "last", "this", "previous", "coming", "past"])
PERIODS = frozenset(["day", "week", "month", "year", "decade", "century", "quarter"])

# unit -> (dimension, canonical unit)
UNITS: dict[str, tuple[str, str]] = {}
for _dimension, _groups in {
    "length": ["km kms kilometer kilometers kilometre kilometres", "mi mile miles",
               "m meter meters metre metres", "cm centimeter centimeters",
               "mm millimeter millimeters", "ft foot feet", "in inch inches", "yd yard yards"],
    "mass": ["kg kgs kilogram kilograms kilo kilos", "g gram grams", "lb lbs pound pounds",
             "oz ounce ounces", "ton tons tonne tonnes"],
    "temperature": ["c celsius centigrade", "f fahrenheit", "kelvin"],
    "volume": ["l liter liters litre litres", "ml milliliter milliliters", "gallon gallons",
               "cup cups", "pint pints"],
    "data": ["kb kilobyte kilobytes", "mb megabyte megabytes", "gb gigabyte gigabytes",
             "tb terabyte terabytes", "bit bits", "byte bytes"],
    "currency": ["usd dollar dollars $", "eur euro euros €", "gbp £ sterling", "inr rupee rupees",
                 "rs", "jpy yen ¥", "cny yuan rmb", "bitcoin btc", "cent cents"],
    "speed": ["mph", "kph kmh"],
    "time": ["ms millisecond milliseconds", "sec second seconds", "min minute minutes",
             "hr hrs hour hours"],
}.items():  # fmt: skip
    for _group in _groups:
        _names = _group.split()
        for _name in _names:
            UNITS[_name] = (_dimension, _names[0])
# single letters are units only right after a number ("5 m", "30 c")
AMBIGUOUS_UNITS = frozenset(
    {"m", "c", "f", "g", "l", "in", "min", "sec", "sat", "sun", "rs", "cup", "cups"}
)

_OPPOSITES_LIST = words(
    """before:after above:below more:less most:least best:worst increase:decrease
    increases:decreases increasing:decreasing buy:sell buying:selling add:remove
    enable:disable start:stop open:close import:export upload:download minimum:maximum
    min:max win:lose true:false positive:negative advantages:disadvantages pros:cons
    male:female men:women boy:girl boys:girls husband:wife hot:cold high:low higher:lower
    highest:lowest fast:slow faster:slower north:south east:west left:right input:output
    send:receive encrypt:decrypt encode:decode ascending:descending rise:fall
    cheap:expensive cheapest:costliest first:last inside:outside allow:deny accept:reject
    legal:illegal possible:impossible like:dislike love:hate success:failure strong:weak
    strengths:weaknesses rich:poor gain:lose good:bad easy:hard easiest:hardest young:old
    younger:older big:small bigger:smaller biggest:smallest largest:smallest long:short
    longer:shorter import:export in:out entry:exit push:pull mother:father son:daughter
    brother:sister internal:external private:public online:offline with:without always:never
    everyone:no-one"""
)
OPPOSITES: dict[str, frozenset[str]] = {}
for _pair in _OPPOSITES_LIST:
    _x, _y = _pair.split(":")
    OPPOSITES[_x] = OPPOSITES.get(_x, frozenset()) | {_y}
    OPPOSITES[_y] = OPPOSITES.get(_y, frozenset()) | {_x}
# too common as prepositions/particles to oppose each other reliably
for _weak in ("in", "out", "like", "left", "right", "last", "first", "old"):
    OPPOSITES.pop(_weak, None)

QUESTION_CLASSES = {
    "why": "reason",
    "when": "time",
    "where": "place",
    "who": "person",
    "whom": "person",
    "whose": "person",
}
ALIASES = {
    "us": "usa",
    "u.s": "usa",
    "america": "usa",
    "states": "usa",
    "uk": "britain",
    "england": "britain",
    "nyc": "york",
    # Abbreviations users write for names: "JS" is "JavaScript".
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "k8s": "kubernetes",
    "pg": "postgresql",
    "postgres": "postgresql",
    "tf": "terraform",
    "gh": "github",
    "aws": "amazon",
    "gcp": "google",
}


@dataclass(frozen=True, slots=True)
class Text:
    """A text broken down once for every check."""

    raw: str
    tokens: tuple[str, ...]  # lowercased word and number tokens, in order
    cased: tuple[str, ...]  # the same tokens, original case
    starts: frozenset[int]  # indexes of tokens that start a sentence
    words: frozenset[str] = field(default_factory=frozenset)


def _squash(token: str) -> str:
    token = token.replace("\u2019", "'")
    if token.endswith("'s"):
        token = token[:-2]  # possessive: "France's" is "france"
    return token.replace("'", "")


@lru_cache(maxsize=4096)
def analyze(text: str) -> Text:
    """Tokenize ``text`` (cached: the query is compared with several candidates)."""
    cased: list[str] = []
    starts: set[int] = {0}
    last_end = 0
    for match in TOKEN.finditer(text):
        gap = text[last_end : match.start()]
        if cased and any(ch in gap for ch in ".?!:;\n"):
            starts.add(len(cased))
        cased.append(match.group())
        last_end = match.end()
    lowered = tuple(_squash(t.lower()) for t in cased)
    return Text(
        raw=text,
        tokens=lowered,
        cased=tuple(cased),
        starts=frozenset(starts),
        words=frozenset(lowered),
    )


def stem(word: str) -> str:
    """A crude plural/possessive strip, enough to match "France's" with "France"."""
    for suffix in ("ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def fmt(values: Sequence[object] | set[str] | frozenset[str]) -> str:
    return ", ".join(sorted(map(str, values)))
