"""The project-owned training corpus and the generator that composes it (see README.md)."""
