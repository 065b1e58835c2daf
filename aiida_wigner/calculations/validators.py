"""Port validators shared by the calcfunctions."""

from __future__ import annotations


def settings_validator(parse):
    """A port validator for a settings ``Dict``: the message of the ``ValueError`` that
    ``parse(dict)`` raises, or None when the settings are valid (or the port is empty)."""

    def validate(value, _port):
        if value is None:
            return None
        try:
            parse(value.get_dict())
        except ValueError as exc:
            return str(exc)
        return None

    return validate
