"""Error taxonomy: the kind of failure is a type, not a string.

* :class:`ConfigError` — the config is wrong; nothing was read. Fix the file and re-run.
* :class:`PolicyError` — sources whose licence or contract does not allow the run's purpose.
* :class:`InputError` — a source points at nothing, or at something unreadable as a whole.
* :class:`IntegrityError` — a shard, manifest or model file does not match its recorded digest.
* :class:`OutputError` — output exists and would be overwritten, or cannot be written.
Record-level problems are not exceptions: they are quarantined and the run goes on.
"""


class CorpusmillError(Exception):
    """Base class; the CLI prints these as one clear message, without a traceback."""

    exit_code = 2


class ConfigError(CorpusmillError):
    pass


class PolicyError(CorpusmillError):
    pass


class InputError(CorpusmillError):
    pass


class IntegrityError(CorpusmillError):
    exit_code = 3


class OutputError(CorpusmillError):
    pass
