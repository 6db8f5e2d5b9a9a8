"""The caption grammar of the `scenes` dataset, and its inverse.

A caption names EVERY object of an image with all four attributes, so captions carry what a class
label does not (colour, size, position and the other objects):
"a picture of a large red circle at the top left and a small blue square in the centre".
One object is "a {size} {colour} {shape} {place}"; objects are joined "A", "A and B", "A, B and C";
an optional opening ("a picture of", ...) comes first. The captions of one image differ in object
order (distinct orders while there are any left) and opening. Colour and shape names are single
lowercase words, so `parse_caption` needs no vocabulary of them and inverts `describe` exactly.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np

SIZES = ("small", "medium", "large")  # in increasing size: the index is the size rank
# The 3 x 3 grid, row-major; the phrase each place takes in a caption.
PLACES: dict[str, str] = {
    "top left": "at the top left",
    "top": "at the top",
    "top right": "at the top right",
    "left": "on the left",
    "centre": "in the centre",
    "right": "on the right",
    "bottom left": "at the bottom left",
    "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}
POSITIONS = tuple(PLACES)
OPENINGS = ("", "a picture of ", "an image of ", "there is ")

_PLACE_OF_PHRASE = {phrase: place for place, phrase in PLACES.items()}
_OBJECT = re.compile(r"a (?P<size>\w+) (?P<colour>[a-z]+) (?P<shape>[a-z]+) (?P<place>(?:at|on|in) the [a-z ]+)")
_SEPARATOR = re.compile(r", | and ")


def describe(obj: dict[str, Any]) -> str:
    """One object: 'a large red circle at the top left'."""
    return f"a {obj['size']} {obj['colour']} {obj['shape']} {PLACES[obj['position']]}"


def join(phrases: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def caption(objects: list[dict[str, Any]], order: tuple[int, ...], opening: str) -> str:
    return opening + join([describe(objects[i]) for i in order])


def captions_for(objects: list[dict[str, Any]], n: int, rng: np.random.Generator) -> list[str]:
    """n captions of one image: shuffled distinct object orders (repeating once all are used)."""
    orders = list(itertools.permutations(range(len(objects))))
    rng.shuffle(orders)
    openings = rng.choice(len(OPENINGS), size=n)
    return [caption(objects, orders[k % len(orders)], OPENINGS[openings[k]]) for k in range(n)]


def parse_caption(text: str) -> list[dict[str, str]]:
    """The objects a caption names ({shape, colour, size, position}), in the caption's order."""
    body = next(text[len(o):] for o in sorted(OPENINGS, key=len, reverse=True) if text.startswith(o))
    objects = []
    for part in _SEPARATOR.split(body):
        match = _OBJECT.fullmatch(part)
        if not match or match["size"] not in SIZES or match["place"] not in _PLACE_OF_PHRASE:
            raise ValueError(f"parse_caption: {part!r} is not 'a <size> <colour> <shape> <place>' (in {text!r})")
        objects.append({"shape": match["shape"], "colour": match["colour"], "size": match["size"],
                        "position": _PLACE_OF_PHRASE[match["place"]]})
    return objects
