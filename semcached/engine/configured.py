"""The engine's parts as the settings configure them: the verifier's rules, its pair model
and the adaptive policy (what :class:`~semcached.engine.cache.SemanticCache` builds when the
caller passes none)."""

from __future__ import annotations

import logging

from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Guard
from semcached.policy.verifier import PairScorer
from semcached.settings import Settings

__all__ = ["configured_adaptive", "configured_guards", "configured_scorer"]

log = logging.getLogger("semcached")


def configured_guards(settings: Settings | None) -> list[Guard]:
    from semcached.policy.guards import default_guards

    if settings is None:
        return default_guards()
    options = settings.verifier
    if not options.enabled:
        return []
    return default_guards(
        options.checks,
        cross_encoder_path=options.cross_encoder_path,
        cross_encoder_min_score=options.cross_encoder_min_score,
    )


def configured_scorer(settings: Settings | None, *, explicit: bool) -> PairScorer | None:
    """The pair model as configured: the packaged one unless settings say otherwise; none when
    the caller chose its own guards (and no scorer) or the verifier is off."""
    if explicit and settings is None:
        return None
    options = settings.verifier if settings is not None else None
    if options is not None and (not options.enabled or not options.model):
        return None
    from semcached.embeddings.pair_scorer import OnnxPairScorer
    from semcached.embeddings.verifier_model import LAYERS_FILE, packaged_dir

    path = options.model_path if options is not None else None
    threads = options.threads if options is not None else 1
    if path is not None:
        return OnnxPairScorer(path, threads=threads)
    if not (packaged_dir() / LAYERS_FILE).is_file():
        log.warning("the packaged pair model is missing; the verifier runs its rules only")
        return None
    return OnnxPairScorer.packaged(threads=threads)


def configured_adaptive(settings: Settings | None) -> AdaptiveThresholds | None:
    if settings is None or not settings.adaptive.enabled:
        return None
    options = settings.adaptive
    return AdaptiveThresholds(
        max_false_hit_rate=options.max_false_hit_rate,
        floor=options.floor,
        min_observations=options.min_observations,
        confidence=options.confidence,
    )
