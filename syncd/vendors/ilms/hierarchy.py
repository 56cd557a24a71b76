"""The organization's Region → Division → Department tree, read only as far as needed.

Every iLMS user sits in one chain of the three, named by F019/F020/F021 (required,
L44-L46). A name that is not in the tree makes iLMS refuse the record, so the
validator checks the triple before anything is sent (digest §4.5 step 7, §6.2).

The tree is read lazily: the regions once, then the divisions of a region and the
departments of a division only when a person names them, each at most once per
adapter (one push cycle). Names compare without case and surrounding spaces, as the
document's own example does (``"region 1"`` for "Region 1", Q49).

Creating missing nodes is possible in iLMS (H2/H6/H10) but syncd does not do it:
an HR typo would otherwise grow the organization's tree. The reason says where to
create them.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from syncd.limits import Priority
from syncd.vendors.ilms.api import DEPARTMENTS, DIVISIONS, REGIONS, Answer, ILMSApi, Page

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


class Hierarchy:
    """Answers "does this region/division/department chain exist?", reading as little as it can."""

    def __init__(self, api: ILMSApi) -> None:
        self._api = api
        self._regions: dict[str, Node] | None = None
        self._divisions: dict[str, dict[str, Node]] = {}  # region id -> folded name -> node
        self._departments: dict[str, dict[str, Node]] = {}  # division id -> ...
        self.unavailable: str | None = None  # why the tree cannot be read (403: no such feature)

    def problem(self, region: str, division: str, department: str) -> str | None:
        """Why the triple names no existing chain, or None when it does (or cannot be told)."""
        regions = self._regions_by_name()
        if regions is None:
            return None
        found = regions.get(_fold(region))
        if found is None:
            return _missing("region", region, "iLMS", regions)
        divisions = self._children(self._divisions, DIVISIONS, {"region_id": found.id})
        if divisions is None:
            return None
        division_node = divisions.get(_fold(division))
        if division_node is None:
            return _missing("division", division, f"region {found.name!r}", divisions)
        departments = self._children(
            self._departments,
            DEPARTMENTS,
            {"region_id": found.id, "division_id": division_node.id},
        )
        if departments is None:
            return None
        if _fold(department) not in departments:
            where = f"division {division_node.name!r} of region {found.name!r}"
            return _missing("department", department, where, departments)
        return None

    def _regions_by_name(self) -> dict[str, Node] | None:
        if self._regions is None and self.unavailable is None:
            self._regions = self._read(REGIONS, {})
        return self._regions

    def _children(
        self, cache: dict[str, dict[str, Node]], template: str, path_params: dict[str, str]
    ) -> dict[str, Node] | None:
        parent = path_params.get("division_id") or path_params["region_id"]
        if parent not in cache:
            nodes = self._read(template, path_params)
            if nodes is None:
                return None
            cache[parent] = nodes
        return cache[parent]

    def _read(self, template: str, path_params: dict[str, str]) -> dict[str, Node] | None:
        nodes: dict[str, Node] = {}
        number = 1
        while True:
            page = self._api.page(
                template,
                number,
                path_params=path_params,
                priority=Priority.WRITE,  # part of a push: it decides what is sent
                accept=frozenset({403, 404}),
            )
            if isinstance(page, Answer) and page.status == 404:
                return {}  # the parent went away since it was listed: nothing is in it
            if isinstance(page, Answer):
                self.unavailable = page.message
                log.warning("ilms_hierarchy_unavailable", status=page.status, reason=page.message)
                return None
            nodes.update(_nodes(page))
            if page.is_last:
                return nodes
            number += 1


def _nodes(page: Page) -> dict[str, Node]:
    found: dict[str, Node] = {}
    for item in page.items:
        name, node_id = item.get("Name"), item.get("ID")
        if isinstance(name, str) and name.strip() and node_id is not None:
            found.setdefault(_fold(name), Node(str(node_id), name.strip()))
    return found


def _missing(kind: str, name: str, where: str, known: dict[str, Node]) -> str:
    names = sorted(node.name for node in known.values())
    listed = ", ".join(repr(n) for n in names[:8]) + (" …" if len(names) > 8 else "")
    has = f"; it has {listed}" if names else f"; it has no {kind}"
    return (
        f"{kind} {name!r} does not exist in {where}{has}. Fix the HR value or its "
        f"mapping, or create the {kind} in iLMS first"
    )
