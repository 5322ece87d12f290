"""Licence policy: decide, before anything is read, which sources the run's purpose may use.

A source is admitted when every use the purpose needs is permitted. Permitted uses come from
the licence (known SPDX identifiers below) narrowed by the contract's ``permitted_uses`` when the
config states them. Unknown licences are refused unless the config's ``accept_unknown_licence``
says why they are accepted — then the declared ``permitted_uses`` govern. Expired contracts are
refused. Sources listed under ``exclude`` are not read, and the reason is recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from pipelines.config import PipelineConfig, Source
from corpusmill_base.dates import contract_date
from corpusmill_base.errors import PolicyError

ALL_USES = frozenset({"research", "pretraining", "commercial", "redistribution-of-derivatives"})
_NC = frozenset({"research", "pretraining", "redistribution-of-derivatives"})
_ND = frozenset({"research", "pretraining", "commercial"})
_NC_ND = frozenset({"research", "pretraining"})

# What each licence implies for the uses we care about. Share-alike and attribution are
# obligations on redistribution, recorded via the source's attribution text; they do not forbid use.
LICENCE_USES: dict[str, frozenset[str]] = {
    "CC0-1.0": ALL_USES,
    "PDDL-1.0": ALL_USES,
    "LicenseRef-public-domain": ALL_USES,
    "LicenseRef-KR-Copyright-Act-Art7": ALL_USES,
    "MIT": ALL_USES,
    "Apache-2.0": ALL_USES,
    "BSD-3-Clause": ALL_USES,
    "CC-BY-2.0": ALL_USES,
    "CC-BY-3.0": ALL_USES,
    "CC-BY-4.0": ALL_USES,
    "CC-BY-SA-3.0": ALL_USES,
    "CC-BY-SA-4.0": ALL_USES,
    "ODC-By-1.0": ALL_USES,
    "CC-BY-NC-3.0": _NC,
    "CC-BY-NC-4.0": _NC,
    "CC-BY-NC-SA-3.0": _NC,
    "CC-BY-NC-SA-4.0": _NC,
    "CC-BY-ND-2.0": _ND,
    "CC-BY-ND-2.0-KR": _ND,
    "CC-BY-ND-4.0": _ND,
    "CC-BY-NC-ND-4.0": _NC_ND,
    "LicenseRef-NCBI-public": frozenset({"research", "pretraining"}),
}
UNKNOWN = {None, "", "unknown", "NOASSERTION", "none"}


@dataclass(frozen=True)
class Decision:
    source_id: str
    admitted: bool
    status: str  # admitted | excluded | refused
    reason: str
    permitted_uses: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def permitted_uses(source: Source, accepted_unknown: str | None) -> tuple[frozenset[str] | None, str]:
    prov = source.provenance
    declared = frozenset(prov.permitted_uses) if prov.permitted_uses is not None else None
    if prov.licence is None or prov.licence in UNKNOWN:
        if accepted_unknown is None:
            return None, "licence unknown (add it to accept_unknown_licence with a reason to accept it)"
        if declared is None:
            return None, "licence unknown and accepted, but no permitted_uses are declared"
        return declared, f"licence unknown, accepted: {accepted_unknown}"
    implied = LICENCE_USES.get(prov.licence)
    if implied is None:
        if declared is None:
            return None, f"licence {prov.licence!r} is not in the policy table and no permitted_uses are declared"
        return declared, f"licence {prov.licence} (uses as declared by the contract)"
    uses = implied if declared is None else implied & declared
    return uses, f"licence {prov.licence}"


def decide(cfg: PipelineConfig, today: dt.date | None = None) -> list[Decision]:
    today = today or contract_date()
    needed = frozenset(cfg.purpose.uses)
    out: list[Decision] = []
    for src in cfg.sources:
        if src.id in cfg.exclude:
            out.append(Decision(src.id, False, "excluded", f"excluded by config: {cfg.exclude[src.id]}", []))
            continue
        uses, basis = permitted_uses(src, cfg.accept_unknown_licence.get(src.id))
        expires = src.provenance.expires
        if uses is None:
            out.append(Decision(src.id, False, "refused", basis, []))
        elif expires is not None and expires < today:
            out.append(Decision(src.id, False, "refused", f"contract expired on {expires.isoformat()}", sorted(uses)))
        elif not needed <= uses:
            missing = ", ".join(sorted(needed - uses))
            out.append(Decision(src.id, False, "refused", f"{basis} does not permit: {missing}", sorted(uses)))
        else:
            out.append(Decision(src.id, True, "admitted", basis, sorted(uses)))
    return out


def enforce(cfg: PipelineConfig, today: dt.date | None = None) -> list[Decision]:
    """Return the decisions, or raise one PolicyError listing every refused source and why."""
    decisions = decide(cfg, today)
    refused = [d for d in decisions if d.status == "refused"]
    if refused:
        lines = "\n".join(f"  - {d.source_id}: {d.reason}" for d in refused)
        raise PolicyError(
            f"the purpose ({', '.join(cfg.purpose.uses)}) is not permitted for {len(refused)} source(s):\n{lines}\n"
            "Exclude them under `exclude:` with a reason, or fix their provenance."
        )
    if not any(d.admitted for d in decisions):
        raise PolicyError("every source is excluded: nothing to read")
    return decisions
