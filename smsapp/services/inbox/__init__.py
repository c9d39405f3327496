"""Texts coming in: receive one, route it, answer it inline."""
