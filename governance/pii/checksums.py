"""Check digits that custom recognizers may require of every match (``validation:``).

* ``luhn``: the card-number check (ISO/IEC 7812), over the digits of the match.
* ``mod97``: ISO 7064 MOD 97-10 as in IBANs: the first four characters move to the end, letters
  become 10…35, and the number modulo 97 must be 1.
* ``mod11``: as ISBN-10: the last ten of the match's digits (an ``X`` as the last counts 10),
  weighted 10, 9, … 1, sum to a multiple of 11.
"""

from __future__ import annotations

from collections.abc import Callable


def luhn(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mod97(text: str) -> bool:
    chars = "".join(c for c in text.upper() if c.isalnum())
    if len(chars) < 5:
        return False
    moved = chars[4:] + chars[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in moved))
    except ValueError:
        return False
    return number % 97 == 1


def mod11(text: str) -> bool:
    chars = [c for c in text.upper() if c.isdigit() or c == "X"]
    if len(chars) < 10 or "X" in chars[-10:-1]:
        return False
    values = [10 if c == "X" else int(c) for c in chars[-10:]]
    return sum(v * w for v, w in zip(values, range(10, 0, -1), strict=True)) % 11 == 0


def mod11_check_digit(nine_digits: str) -> str:
    """The check character that makes ``nine_digits`` + it pass ``mod11`` (for test data)."""
    total = sum(int(c) * w for c, w in zip(nine_digits, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits`` + it pass ``luhn`` (for test data)."""
    for d in "0123456789":
        if luhn(digits + d):
            return d
    raise AssertionError("unreachable")  # pragma: no cover


CHECKS: dict[str, Callable[[str], bool]] = {"luhn": luhn, "mod97": mod97, "mod11": mod11}
