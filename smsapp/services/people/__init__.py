"""Participants, groups, consent, opt-out, withdrawal, staff accounts and keys."""
