"""Synthetic contrastive pairs for training the semantic-cache pair verifier.

The verifier is a cross-encoder that reads a cached prompt A and a new prompt B and scores
"the answer cached for A is a right answer to B". Embedding similarity alone cannot tell
"How do I enable dark mode?" from "How do I disable dark mode?", so the verifier has to learn
from pairs that look alike but need different answers (label 0, *near-misses*) and from pairs
that look different but keep the answer (label 1, *rewordings*). This package makes such pairs
in bulk, each tagged with the ``kind`` of change (:data:`LABEL0_KINDS`, :data:`LABEL1_KINDS`).

Two families, told apart by ``source``:

``"template"``
    :func:`generate` fills a library of hand-written prompt templates (support, coding, facts,
    math, writing, extraction over a short pasted snippet, policy, advice; each with several
    phrasings) with slot values (products, plans, countries, cities, languages, programming
    languages and tools, roles, numbers, dates, units, formats, tones, audiences...). A
    near-miss changes exactly one thing the answer depends on: a contrast declared in the
    template, a slot value, a value in the snippet, or the task asked of the snippet. A
    rewording switches to another phrasing of the same template or applies one of the
    meaning-preserving rewrites below. Templates that can compute their answer (arithmetic)
    check that a near-miss really changes it.

``"perturb"``
    :func:`perturb` takes one natural prompt (hand-written, or from a public prompt set),
    finds what in it can change and changes it: negations, numbers, the order of two numbers,
    dates, years and versions, entities with siblings in the word lists, the two sides of a
    direction, antonyms, units, output formats, target languages, audiences, tones, length
    constraints and scope words. It also rewrites the prompt in ways that keep the answer:
    typos, casing and punctuation, casual register, politeness and fillers, contractions,
    abbreviations, notation, question <-> instruction, British <-> American spelling, harmless
    padding, moving a phrase, synonyms, and combinations of these (``paraphrase``).

Correctness comes before coverage: a transformation that does not apply cleanly is skipped
rather than producing an ungrammatical or ambiguous prompt. A pasted snippet (after a colon, a
question mark or a line break) is never touched by a rewording, since a typo in an e-mail
address changes what "extract the e-mail address" should answer; and a near-miss of a natural
prompt only edits the instruction, since whether a change inside a snippet changes the answer
depends on what is asked of it (templates know, and make the ``snippet`` near-misses).

Command line::

    python -m semcached.quality.synthetic -n 50000 --seed 0 -o pairs.jsonl
    python -m semcached.quality.synthetic -n 0 --prompts prompts.txt -o perturbed.jsonl

Layout: :mod:`.generate` makes the template pairs with the template engine (:mod:`.templates`,
over :mod:`.library`, :mod:`.slots` and :mod:`.checks`); :mod:`.perturb` applies the near-misses
(:mod:`.near_misses`: :mod:`.negation`, :mod:`.numbers`, :mod:`.roles` and the swap groups of
:mod:`.swaps`) and the rewordings (:mod:`.rewordings`: :mod:`.typos`, :mod:`.style`,
:mod:`.shorthand`, :mod:`.structure`) to a natural prompt. The data (templates, slot values,
swap groups, word lists, typo data) is JSON under ``data/``, read by :mod:`.datafiles`.
"""

from __future__ import annotations

from semcached.quality.synthetic.cli import main
from semcached.quality.synthetic.generate import generate
from semcached.quality.synthetic.pair import KINDS, LABEL0_KINDS, LABEL1_KINDS, SyntheticPair
from semcached.quality.synthetic.perturb import perturb

__all__ = [
    "KINDS",
    "LABEL0_KINDS",
    "LABEL1_KINDS",
    "SyntheticPair",
    "generate",
    "main",
    "perturb",
]
