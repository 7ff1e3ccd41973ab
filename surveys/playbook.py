"""Suggested actions for a manager, keyed by the weakest driver or a risk flag.

Written to be read by a busy, well-meaning manager: concrete, small, kind, and never about finding
out who said what.
"""

from __future__ import annotations

DRIVER_ACTIONS = {
    "workload": "ask in your next 1:1s what could be dropped, delayed or shared, and drop one thing this week",
    "recognition": "thank someone specifically for something they did this week, in front of the team",
    "growth": "ask each person in their next 1:1 what they would like to learn next, and find one small step",
    "manager_support": "open your next 1:1s with 'what could I do differently to help you?' and listen",
    "peers": "make time for the team to work on something together, or to simply have lunch",
    "alignment": "spend ten minutes in the next team meeting on why the current priorities matter",
    "autonomy": "pick one decision you usually make and hand it to the team",
    "meaningful_work": "share a story of how the team's work helped a customer or a colleague",
}

BURNOUT_ACTION = (
    "Burnout signs are showing: talk about workload and recovery as a team, protect focus time, "
    "and remind people of the support available (time off, the employee assistance programme)"
)
PARTICIPATION_ACTION = (
    "Fewer people answered than usual: tell the team what you learned from the last pulse and what you "
    "changed, so answering feels worth it (never ask who did or didn't answer)"
)
STRENGTH_ACTION = "tell the team what you see working, so it keeps happening"


def driver_name(driver: str) -> str:
    return driver.replace("_", " ").capitalize()


def suggested_actions(
    *, weakest: str | None, weakest_streak: int, strongest: str | None, burnout_flag: bool, low_participation: bool
) -> list[str]:
    """One to three actions, most urgent first."""
    actions = []
    if burnout_flag:
        actions.append(BURNOUT_ACTION + ".")
    if weakest is not None and weakest in DRIVER_ACTIONS:
        running = (
            " two rounds running"
            if weakest_streak == 2
            else f" {weakest_streak} rounds running"
            if weakest_streak > 2
            else ""
        )
        actions.append(f"{driver_name(weakest)} is your team's lowest driver{running}: {DRIVER_ACTIONS[weakest]}.")
    if low_participation:
        actions.append(PARTICIPATION_ACTION + ".")
    if not actions and strongest is not None:
        actions.append(f"{driver_name(strongest)} is your team's strongest driver: {STRENGTH_ACTION}.")
    return actions[:3]
