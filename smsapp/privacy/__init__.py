"""Pure privacy core: phone-number normalisation, encryption at rest, keyed look-ups."""
