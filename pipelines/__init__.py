"""corpusmill pipelines: typed config, policy, engines (local, ray, beam) and the CLI."""

__version__ = "0.1.0"
