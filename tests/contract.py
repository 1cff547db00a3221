"""``verify_class``: a backend implements every member of a protocol with the protocol's signature.

In the spirit of zope.interface's ``verifyClass`` (what warehouse runs for each of its service backends): mypy
checks the places a backend is passed as the protocol, this checks the class itself, so a backend that no
caller uses yet still cannot drift. The behaviour is checked by each protocol's contract suite.
"""

from __future__ import annotations

import inspect
from typing import Any


def protocol_members(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


def verify_class(protocol: type, cls: type[Any]) -> None:
    members = protocol_members(protocol)
    assert members, f"{protocol.__name__} declares no members"
    for name in members:
        assert hasattr(cls, name), f"{cls.__name__} lacks {protocol.__name__}.{name}"
        wanted, given = getattr(protocol, name), getattr(cls, name)
        if isinstance(wanted, property):
            continue
        expected = [(p.name, p.kind) for p in inspect.signature(wanted).parameters.values()]
        actual = [(p.name, p.kind) for p in inspect.signature(given).parameters.values()]
        assert actual == expected, f"{cls.__name__}.{name}{actual} differs from {protocol.__name__}.{name}{expected}"
