"""The password policy (chính sách mật khẩu): every rule is checked, every failure is named."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.kit.errors import ValidationFailed

# Passwords seen first in leaked lists, and their Vietnamese favourites. Compared lower-cased,
# also after dropping trailing digits and symbols ("matkhau@2024" is "matkhau").
_COMMON = """
    password passw0rd p@ssw0rd p@ssword password1 qwerty qwertyuiop qwertyuiop123 asdfghjkl zxcvbnm
    abc123 abcdef abcdefgh abcd1234 iloveyou admin administrator welcome letmein monkey dragon
    football baseball sunshine princess superman batman trustno1 whatever starwars master
    matkhau matkhaumoi matkhau123 anhyeuem emyeuanh yeuem yeuanh iloveyou vietnam vietnam123
    hanoi saigon hochiminh dichvucong congdichvucong motconvit conmeo changeme default
    1234567890 0123456789 12345678910 123456789012 1111111111 0000000000 1234512345 9876543210
    aaaaaaaaaa 1q2w3e4r5t 1qaz2wsx3edc qazwsxedc zaq12wsx
"""
COMMON_PASSWORDS = frozenset(_COMMON.split())

_TRAILING = re.compile(r"[\d\W_]+$")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 10
    max_length: int = 128

    def failures(self, password: str, identifiers: Iterable[str] = ()) -> list[dict[str, str]]:
        """The rules ``password`` breaks, each as ``{"field", "rule", "message"}``; empty when it
        passes. ``identifiers`` are the login identifiers of the account (personal id, phone,
        tax code, username, e-mail): a password may not contain any of them."""
        broken: list[tuple[str, str]] = []
        if len(password) < self.min_length:
            broken.append(("too-short", f"The password must have at least {self.min_length} characters."))
        if len(password) > self.max_length:
            broken.append(("too-long", f"The password must have at most {self.max_length} characters."))
        if password.isdigit():
            broken.append(("all-digits", "The password must not be made of digits only."))
        lowered = password.lower()
        if any(part and part in lowered for part in _identifier_forms(identifiers)):
            broken.append(("contains-identifier", "The password must not contain your login identifier or phone."))
        if lowered in COMMON_PASSWORDS or _TRAILING.sub("", lowered) in COMMON_PASSWORDS:
            broken.append(("too-common", "The password is too common; choose one that is harder to guess."))
        return [{"field": "password", "rule": rule, "message": message} for rule, message in broken]

    def check(self, password: str, identifiers: Iterable[str] = ()) -> None:
        """Raise :class:`WeakPassword` listing every broken rule."""
        if failed := self.failures(password, identifiers):
            raise WeakPassword(failed)


def _identifier_forms(identifiers: Iterable[str]) -> set[str]:
    """Each identifier as people type it: a phone ``+84912345678`` also as ``0912345678``,
    ``84912345678`` and ``912345678``; an e-mail also by its local part."""
    forms: set[str] = set()
    for raw in identifiers:
        value = (raw or "").strip().lower()
        if len(value) < 4:
            continue
        forms.add(value)
        if value.startswith("+84"):
            national = value[3:]
            forms.update({"0" + national, "84" + national, national})
        if "@" in value and len(local := value.split("@", 1)[0]) >= 4:
            forms.add(local)
    return forms


class WeakPassword(ValidationFailed):
    """The password breaks one or more rules of the policy; ``errors`` names each."""

    def __init__(self, errors: list[dict[str, str]]):
        rules = ", ".join(e["rule"] for e in errors)
        super().__init__(errors, detail=f"The password breaks these rules: {rules}.")
