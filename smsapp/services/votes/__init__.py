"""Prioritisation votes: nominations and shortlists, tallies, results texts."""
