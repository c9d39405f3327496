"""Polls: define, build, launch, converse, remind, close, simulate."""
