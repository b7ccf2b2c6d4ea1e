"""Small geometry helpers: try `cove complete examples/geometry.py:20:12`."""

import math
from dataclasses import dataclass


@dataclass
class Point:
    x: float
    y: float


def distance(a: Point, b: Point) -> float:
    """Return the Euclidean distance between two points."""
    return math.hypot(a.x - b.x, a.y - b.y)


def circle_area(radius: float) -> float:
    """Return the area of a circle."""
    return 


def rectangle_area(width: float, height: float) -> float:
    """Return the area of a rectangle."""
    return width * height
