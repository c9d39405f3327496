"""The pure core of research exports: safe cells, exact columns, and the FLOIP package."""
