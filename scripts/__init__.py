"""Local entry points: ``python -m scripts.demo`` and ``python -m scripts.bench``."""
