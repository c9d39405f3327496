"""Texts going out: queue rows, claim and send them, reconcile, delivery callbacks."""
