"""Pure safeguarding core: phrase lists and the forgiving matcher that checks every inbound text."""
