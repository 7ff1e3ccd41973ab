"""Draws the two Teams icons once; the PNGs beside this file are what the package ships.

Run `python -m handlers.teams.icons` after changing the drawing, and commit the PNGs. Teams wants a
192×192 full-colour icon and a 32×32 outline that is white on a transparent background.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from handlers.teams.manifest import ACCENT_COLOR, COLOR_ICON, OUTLINE_ICON

HERE = Path(__file__).resolve().parent
WHITE = (255, 255, 255, 255)
SUPERSAMPLE = 8  # drawn large, then shrunk: smooth edges without an anti-aliasing library


def _heart(size: float, centre: tuple[float, float], scale: float) -> list[tuple[float, float]]:
    """The classic parametric heart, `scale` of `size` wide, centred on `centre`."""
    points = []
    for step in range(720):
        t = 2 * math.pi * step / 720
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((centre[0] + x / 34 * size * scale, centre[1] - y / 34 * size * scale))
    return points


def _accent() -> tuple[int, int, int, int]:
    value = ACCENT_COLOR.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255)


def color_icon() -> Image.Image:
    """192×192: a white heart on the accent colour, edge to edge (Teams rounds the corners itself)."""
    big = 192 * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), _accent())
    ImageDraw.Draw(image).polygon(_heart(big, (big / 2, big * 0.53), 0.62), fill=WHITE)
    return image.resize((192, 192), Image.Resampling.LANCZOS)


def outline_icon() -> Image.Image:
    """32×32: the heart's outline in white on transparency, nothing else."""
    big = 32 * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    heart = _heart(big, (big / 2, big * 0.47), 0.78)
    draw.line([*heart, heart[0]], fill=255, width=int(2.4 * SUPERSAMPLE), joint="curve")
    alpha = mask.resize((32, 32), Image.Resampling.LANCZOS)
    image = Image.new("RGBA", (32, 32), (255, 255, 255, 0))
    image.putalpha(alpha)
    # Fully transparent pixels keep white colour values too, so every pixel is white at some opacity.
    return image


def main() -> None:
    color_icon().save(HERE / COLOR_ICON, optimize=True)
    outline_icon().save(HERE / OUTLINE_ICON, optimize=True)
    print(f"wrote {HERE / COLOR_ICON} and {HERE / OUTLINE_ICON}")


if __name__ == "__main__":
    main()
