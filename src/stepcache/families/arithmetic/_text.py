"""A solution line as a model writes it, made plain for reading: list numbering, markdown and
LaTeX (``\\(2 \\times 4 = 8\\)``, ``\\frac{24}{8}``, ``\\text{ servings}``, ``\\boxed{3}``) become
the plain arithmetic they stand for. The raw line is what the caller is served when the solution
is the model's own; the plain one is what is checked and carried to new instances."""

from __future__ import annotations

import re

__all__ = ["plain_line"]

_NUMBERING = re.compile(r"^\s*(?:(?:step|line)\s*\d+\s*[:.)-]|\d+\s*[.)]\s+|[-*•+]\s+|#+\s+|>\s+)", re.IGNORECASE)
_LATEX_TEXT = re.compile(r"\\(?:text|mathrm|textbf|textit|mbox|operatorname)\s*\{([^{}]*)\}")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LATEX_DELIMS = re.compile(r"\\[()\[\]]|\$\$")
_LATEX_SIGNS = {
    "\\times": "×",
    "\\cdot": "·",
    "\\div": "÷",
    "\\%": "%",
    "\\$": "$",
    "\\,": " ",
    "\\!": "",
    "\\;": " ",
    "\\left": "",
    "\\right": "",
    "\\approx": "≈",
}


def plain_line(raw: str) -> str:
    text = raw.replace("**", "").replace("__", "").replace("`", "")
    for _ in range(3):  # a step number inside a bullet ("- 1. ...")
        stripped = _NUMBERING.sub("", text)
        if stripped == text:
            break
        text = stripped
    text = _LATEX_TEXT.sub(r" \1 ", text)
    for _ in range(3):  # nested fractions, innermost first
        text = _LATEX_FRAC.sub(r"(\1)/(\2)", text)
    # "The answer is \boxed{50}" reads "The answer is 50"; a box alone marks the answer
    text = _LATEX_BOXED.sub(
        lambda m: f" {m.group(1)} " if "answer" in text[: m.start()].lower() else f" answer: {m.group(1)} ", text
    )
    text = _LATEX_DELIMS.sub(" ", text)
    for sign, plain in _LATEX_SIGNS.items():
        text = text.replace(sign, plain)
    text = text.replace("{", " ").replace("}", " ")
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" (?=[.,;:!?](?:\s|$))", "", text).strip()
