"""The group's record: what it decided and when, its terms of reference, its year review's tree of growth, and the celebration text."""
