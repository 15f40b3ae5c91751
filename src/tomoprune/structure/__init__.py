"""Unit groups: finding coupled units in any model, removing them, and replaying removals.

- ``layers``: the one table of supported layer types (roles, JSON spec, shape attributes);
- ``groups``: ``UnitGroup`` and ``find_groups`` (traced with Torch-Pruning's DependencyGraph);
- ``search``: the group search over that graph, bounded so that a reshaping it misreads ends
  in a group left whole instead of exhausting memory;
- ``attention``: attention heads as groups, and layers whose heads stay whole;
- ``weights``: weight rays and per-unit weight matrices of a group (what scorers read);
- ``removal``: removal plans, physical surgery, optimizer-state slicing, the removal record.
"""

from tomoprune.structure.groups import Member, UnitGroup, find_groups, select_groups
from tomoprune.structure.removal import (
    Removal,
    RemovalRecord,
    Slice,
    apply_record,
    apply_removal,
    plan_removal,
    slice_parameter_state,
)

__all__ = [
    "Member",
    "Removal",
    "RemovalRecord",
    "Slice",
    "UnitGroup",
    "apply_record",
    "apply_removal",
    "find_groups",
    "plan_removal",
    "select_groups",
    "slice_parameter_state",
]
