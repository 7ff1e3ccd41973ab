"""Comments for a group: only from 10 respondents, with the same complementary suppression as the
figures (a set of comments can be subtracted from its parent's as easily as a sum), shuffled, and
dated to the round's end, never their own time. Sentiment is a hint beside a comment, not a verdict.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from surveys.anonymity import releasable
from surveys.models import PulseAnswer, PulseRound, PulseUnit
from surveys.results import build_tree, unit_key

MIN_GROUP_COMMENTS = 10


@dataclass(frozen=True)
class Comment:
    text: str
    dated: date
    sentiment: str  # "positive", "neutral" or "negative": a hint only


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment_hint(text: str) -> str:
    compound = _analyzer().polarity_scores(text)["compound"]
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def group_comments(
    session: Session, round_ids: Sequence[int], *, k: int = MIN_GROUP_COMMENTS
) -> dict[str, list[Comment]]:
    """Comments per group id for the groups allowed to show them (closed rounds only)."""
    rounds = {
        r.id: r
        for r in session.scalars(
            select(PulseRound).where(PulseRound.id.in_(list(round_ids)), PulseRound.status == "closed")
        )
    }
    units = list(session.scalars(select(PulseUnit).where(PulseUnit.round_id.in_(list(rounds)))))
    comments: dict[str, list[Comment]] = defaultdict(list)
    for round_id, pulse in rounds.items():
        round_units = [u for u in units if u.round_id == round_id]
        allowed: set[str] = set()
        for root in build_tree(round_units):
            allowed |= releasable(root, k)
        by_unit: dict[int, list[str]] = defaultdict(list)
        for answer in session.scalars(
            select(PulseAnswer).where(PulseAnswer.round_id == round_id, PulseAnswer.comment.is_not(None))
        ):
            by_unit[answer.unit_id].append(answer.comment or "")
        dated = (pulse.closed_at or pulse.closes_at).date()
        for unit in round_units:
            for group_id in [unit_key(unit), *(f"org:{m}" for m in unit.chain)]:
                if group_id in allowed:
                    comments[group_id] += [Comment(t, dated, sentiment_hint(t)) for t in by_unit.get(unit.id, [])]
    shuffle = random.SystemRandom().shuffle
    for group_comments_list in comments.values():
        shuffle(group_comments_list)
    return dict(comments)
