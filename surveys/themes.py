"""Comment themes: the words and two-word phrases that come up in several comments.

Only comments that already passed the comment threshold are fed in, so themes reveal nothing the
comments themselves don't. A theme needs at least three different comments, so one person's pet
phrase never becomes "a theme".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

MIN_COMMENTS = 10
MIN_MENTIONS = 3
WORD = re.compile(r"[a-z][a-z'-]{2,}")
STOPWORDS = frozenset(
    """
    about above after again against all also and any are aren't because been before being below between both
    but can can't cannot could couldn't did didn't does doesn't doing don't down during each even ever every few
    for from further get gets getting got had hadn't has hasn't have haven't having her here hers herself him
    himself his how i'm i've into isn't it's its itself just let's like lot lots make makes many may more most
    much must mustn't myself need needs nor not now off once one only other ought our ours ourselves out over own
    really same she should shouldn't some still such than that that's the their theirs them themselves then there
    there's these they they're this those through too under until very was wasn't way we're we've were weren't what
    what's when where which while who whom why will with won't would wouldn't you you're your yours yourself
    yourselves thing things think feel feels felt team work week weeks time
    """.split()  # noqa: SIM905  (a word list reads better as words)
)


def _tokens(text: str) -> list[str]:
    return [w.strip("'-") for w in WORD.findall(text.lower())]


def comment_themes(texts: Sequence[str], *, top: int = 5) -> list[tuple[str, int]]:
    """Up to `top` (theme, number of comments) pairs, phrases before single words, most mentioned first."""
    if len(texts) < MIN_COMMENTS:
        return []
    phrases: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for text in texts:
        tokens = _tokens(text)
        content = [t for t in tokens if t not in STOPWORDS]
        words.update(set(content))
        phrases.update({f"{a} {b}" for a, b in pairwise(tokens) if a not in STOPWORDS and b not in STOPWORDS})
    found = [(p, n) for p, n in phrases.most_common() if n >= MIN_MENTIONS]
    covered = {w for p, _ in found for w in p.split()}
    found += [(w, n) for w, n in words.most_common() if n >= MIN_MENTIONS and w not in covered]
    found.sort(key=lambda item: (-item[1], " " not in item[0], item[0]))
    return found[:top]
