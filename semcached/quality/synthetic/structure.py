"""Structural rewordings (label 1): a question as an instruction and back ("How do I X?" <->
"Tell me how to X."), and moving a phrase ("In Python, how do I X?" <-> "How do I X in Python?").

>>> op_instruction_vs_question("How do I reset my password?", random.Random(0))
'Explain how to reset my password.'
"""

from __future__ import annotations

import functools
import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.names import entity_names, uncap
from semcached.quality.synthetic.style import first_word
from semcached.quality.synthetic.text import cap, prev_word, word_set

__all__ = ["op_instruction_vs_question", "op_reordering"]

_IMPERATIVES = datafiles.word_set("imperatives")


def _body(text: str, end: str = "?") -> str | None:
    t = text.strip()
    return t[: -len(end)].rstrip() if t.endswith(end) else None


def _question_to_instruction(t: str, rng: random.Random) -> list[str]:
    body = _body(t)
    if body is None:
        return []
    return _how_questions(body, rng) + _other_questions(body)


def _how_questions(body: str, rng: random.Random) -> list[str]:
    out: list[str] = []
    m = re.fullmatch(r"How (?:do|can) (?:I|you|we|one) (.+)", body)
    if m:
        out.append(f"{rng.choice(('Tell me', 'Explain', 'Show me'))} how to {m.group(1)}.")
    m = re.fullmatch(r"How (should|could) (I|we) (.+)", body)
    if m:
        out.append(f"Tell me how {m.group(2)} {m.group(1)} {m.group(3)}.")
    m = re.fullmatch(r"How many (\w+(?: \w+)?) (are|is|were|was) (.+)", body)
    if m:
        out.append(f"Tell me how many {m.group(1)} {m.group(2)} {m.group(3)}.")
    m = re.fullmatch(r"How much does (.{1,50}) cost", body)
    if m:
        out.append(f"Tell me how much {m.group(1)} costs.")
    m = re.fullmatch(r"How long does it take to (.+)", body)
    if m:
        out.append(f"Tell me how long it takes to {m.group(1)}.")
    m = re.fullmatch(r"How does (.{1,40}) work", body)
    if m:
        out.append(f"Explain how {m.group(1)} works.")
    return out


def _other_questions(body: str) -> list[str]:
    out: list[str] = []
    m = re.fullmatch(r"(Can|Could|Should|May) (I|we) (.+)", body)
    if m:
        out.append(f"Tell me whether {m.group(2)} {m.group(1).lower()} {m.group(3)}.")
    m = re.fullmatch(r"Do (I|we) (need to|have to) (.+)", body)
    if m:
        out.append(f"Tell me whether {m.group(1)} {m.group(2)} {m.group(3)}.")
    m = re.fullmatch(r"(Is|Are) (there|it) (possible |safe |legal |okay |OK |allowed )?(.+)", body)
    if m and (m.group(2) == "there" or m.group(3)):
        out.append(
            f"Tell me whether {m.group(2)} {m.group(1).lower()} {m.group(3) or ''}{m.group(4)}."
        )
    m = re.fullmatch(r"What (?:is|are) (the .+)", body)
    if m and len(m.group(1).split()) <= 10:
        out.append(f"Tell me {m.group(1)}.")
    m = re.fullmatch(r"What is (an? [\w'\u2019 -]+)", body)
    if m and len(m.group(1).split()) <= 5:
        out.append(f"Explain what {m.group(1)} is.")
    m = re.fullmatch(r"(Who) (is|was) ([A-Z][\w.'\u2019-]*(?: [A-Z][\w.'\u2019-]*){0,3})", body)
    if m:
        out.append(f"Tell me who {m.group(3)} {m.group(2)}.")
    m = re.fullmatch(r"What does (.{1,40}) mean", body)
    if m:
        out.append(f"Tell me what {m.group(1)} means.")
    m = re.fullmatch(r"(Which|Who) (.+)", body)
    if m and first_word(m.group(2)) not in word_set(
        "is are was were do does did can should will would could has have of"
    ):
        words = m.group(2).split()
        aux = next(
            (
                w
                for w in words[:3]
                if w.lower() in word_set("do does did can should will would could is are am")
            ),
            None,
        )
        if aux is None:
            out.append(f"Tell me {m.group(1).lower()} {m.group(2)}.")
    m = re.fullmatch(r"(Where|When) (can|should) (I|we) (.+)", body)
    if m:
        out.append(f"Tell me {m.group(1).lower()} {m.group(3)} {m.group(2)} {m.group(4)}.")
    m = re.fullmatch(r"Where do (?:I|you) (.+)", body)
    if m:
        out.append(f"Tell me where to {m.group(1)}.")
    m = re.fullmatch(r"Why (can['\u2019]t|can not|cannot|do|don['\u2019]t) (I|we) (.+)", body)
    if m:
        aux = "" if m.group(1) == "do" else m.group(1) + " "
        out.append(f"Explain why {m.group(2)} {aux}{m.group(3)}.")
    m = re.fullmatch(r"What should (I|we) do (if|when|after|before) (.+)", body)
    if m:
        out.append(f"Tell me what to do {m.group(2)} {m.group(3)}.")
    return out


def _instruction_to_question(t: str) -> list[str]:
    out: list[str] = []
    body = _body(t, ".") or _body(t, "!")
    if body is None:
        body = t.strip() if t.strip() and t.strip()[-1].isalnum() else None
    if body is None:
        return out
    m = re.fullmatch(r"(?:Tell me|Explain|Show me) how to (.+)", body)
    if m:
        out.append(f"How do I {m.group(1)}?")
    m = re.fullmatch(r"Tell me (?:whether|if) (I|we) (can|should|need to|have to) (.+)", body)
    if m:
        aux = {"can": "Can", "should": "Should", "need to": "Do", "have to": "Do"}[m.group(2)]
        rest = m.group(3) if aux != "Do" else f"{m.group(2)} {m.group(3)}"
        out.append(f"{aux} {m.group(1)} {rest}?")
    m = re.fullmatch(r"Explain what (an? [\w'\u2019 -]+) is", body)
    if m:
        out.append(f"What is {m.group(1)}?")
    m = re.fullmatch(r"Define (.{1,40})", body)
    if m and not re.search(r"[,:;]", m.group(1)):
        out.append(f"What is {m.group(1)}?")
    m = re.fullmatch(r"List (the .+)", body)
    if m:
        out.append(f"What are {m.group(1)}?")
    first = first_word(body)
    if first in _IMPERATIVES and body[0].isupper() and first not in word_set("tell explain"):
        out.append(f"Can you {uncap(body)}?")
    return out


def op_instruction_vs_question(text: str, rng: random.Random) -> str | None:
    """``text`` as an instruction if it is a question, and back, or None."""
    t = text.strip()
    end_colon = t.endswith(":")
    core = t[:-1].rstrip() + "." if end_colon else t
    sites = _question_to_instruction(core, rng) + _instruction_to_question(core)
    if end_colon:
        sites = [s[:-1] + (":" if s.endswith(".") else "?") for s in sites]
    sites = [s for s in sites if s != t]
    return rng.choice(sites) if sites else None


# ------------------------------------------------------------------------------- reordering
_MOVABLE_BLOCK = datafiles.word_set("reorder_blockers")


@functools.cache
def _reorder_regexes() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    names = entity_names()
    tail = re.compile(
        r"^(?P<main>[A-Z].+?) (?P<prep>in|using|with|on) (?P<np>(?:"
        + names
        + r")|(?:this|these|the following) [a-z]+(?: [a-z]+)?)(?P<end>[?.!])$"
    )
    head = re.compile(
        r"^(?P<prep>In|Using|With|On) (?P<np>(?:"
        + names
        + r")|(?:this|these|the following) [a-z]+(?: [a-z]+)?), (?P<main>.+?)"
        r"(?P<end>[?.!])$"
    )
    colon = re.compile(r"^(?P<np>" + names + r"): (?P<main>[a-z].+?)(?P<end>[?.!]?)$")
    return tail, head, colon


def op_reordering(text: str, rng: random.Random) -> str | None:
    """``text`` with a phrase moved to the other end, or None."""
    t = text.strip()
    if re.search(r"[.?!:]\s", t):
        return None  # more than one sentence: which phrase belongs where is unclear
    tail, head, colon = _reorder_regexes()
    sites: list[str] = []
    m = tail.match(t)
    if m:
        main = m.group("main").rstrip(",")
        before_prep = prev_word(main + " ", len(main) + 1).lower()
        if (
            before_prep not in _MOVABLE_BLOCK
            and not re.fullmatch(r"[a-z]+ed", before_prep)
            and len(main.split()) >= 3
        ):
            sites.append(f"{cap(m.group('prep'))} {m.group('np')}, {uncap(main)}{m.group('end')}")
    m = head.match(t)
    if m:
        sites.append(
            f"{cap(m.group('main'))} {m.group('prep').lower()} {m.group('np')}{m.group('end')}"
        )
    m = colon.match(t)
    if m:
        sites.append(f"{cap(m.group('main'))} in {m.group('np')}{m.group('end') or '.'}")
    m = re.fullmatch(
        r"(If|When) ([^,?]{3,80}), ((?:can|do|does|will|is|are|should|how|what|who|"
        r"which|where|am)\b[^?]*)\?",
        t,
        re.IGNORECASE,
    )
    if m:
        sites.append(f"{cap(m.group(3))} {m.group(1).lower()} {m.group(2)}?")
    m = re.fullmatch(r"((?:Can|Do|Does|Will|Is|Are|Should|Am) [^?]{3,80}?) if ([^,?]{3,60})\?", t)
    if m and prev_word(m.group(1) + " ", len(m.group(1)) + 1).lower() not in word_set(
        "know see check ask wonder tell whether"
    ):
        sites.append(f"If {m.group(2)}, {uncap(m.group(1))}?")
    m = re.fullmatch(r"(.+?),? according to (this|these|the) ([a-z]+(?: [a-z]+)?)\?", t)
    if m:
        sites.append(f"According to {m.group(2)} {m.group(3)}, {uncap(m.group(1))}?")
    sites = [s for s in sites if s != t]
    return rng.choice(sites) if sites else None
