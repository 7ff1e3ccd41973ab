"""PNG charts for digests, drawn with matplotlib from plain data (no database, no Slack).

A chart is described by a small JSON-able spec so the outbox can store it and draw it when it sends:
the stored row stays small and the picture always matches the numbers in the message.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot

import matplotlib.pyplot as plt

COLOURS = {"Engagement": "#2e7d32", "Burnout": "#c62828", "Wellbeing": "#1565c0"}
MAX_POINTS = 12


def trend_spec(title: str, dates: list[date], series: dict[str, list[float | None]]) -> dict[str, Any]:
    """The last 12 rounds of each series; None marks a round the group was too small to show."""
    return {
        "kind": "trend",
        "title": title,
        "dates": [d.isoformat() for d in dates[-MAX_POINTS:]],
        "series": {name: values[-MAX_POINTS:] for name, values in series.items()},
    }


def trend_alt_text(spec: dict[str, Any]) -> str:
    """What the chart shows, in words, for screen readers (Slack allows 1,000 characters)."""
    parts = [f"Line chart: {spec['title']}, {len(spec['dates'])} rounds, scores from 0 to 100."]
    for name, values in spec["series"].items():
        shown = [v for v in values if v is not None]
        if not shown:
            parts.append(f"{name}: not enough answers to show.")
            continue
        parts.append(
            f"{name} went from {shown[0]:.0f} to {shown[-1]:.0f} (lowest {min(shown):.0f}, highest {max(shown):.0f})."
        )
    return " ".join(parts)[:1000]


def render(spec: dict[str, Any]) -> bytes:
    if spec.get("kind") != "trend":
        raise ValueError(f"unknown chart kind {spec.get('kind')!r}")
    return _render_trend(spec)


def _render_trend(spec: dict[str, Any]) -> bytes:
    labels = [date.fromisoformat(d).strftime("%d %b") for d in spec["dates"]]
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        for name, values in spec["series"].items():
            points = [(i, v) for i, v in enumerate(values) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                colour = next((c for prefix, c in COLOURS.items() if name.startswith(prefix)), None)
                axes.plot(xs, ys, marker="o", linewidth=2, label=name, color=colour)
        axes.set_ylim(0, 100)
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        axes.set_ylabel("Score (0–100)")
        axes.set_title(spec["title"])
        axes.grid(axis="y", alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="upper left", frameon=False)
        # Fixed margins that fit the labels: tight_layout measured them on every chart (a third of the time).
        figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.18)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
