"""nhitui: a terminal dashboard for the non-human identities of a software delivery chain."""

__version__ = "0.1.0"
