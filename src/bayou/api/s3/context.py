"""What every S3 handler receives: the request, who made it, and the storage core."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bayou.api.http import Request
from bayou.api.s3.xml import Node
from bayou.auth.authenticate import AuthContext
from bayou.storage.service import StorageService

OWNER_DISPLAY_NAME = "bayou"


def canonical_user_id(access_key: str) -> str:
    """A stable 64-hex-digit canonical user id, as S3 shows for owners."""
    return hashlib.sha256(f"bayou-owner:{access_key}".encode()).hexdigest()


@dataclass(slots=True)
class S3Context:
    request: Request
    auth: AuthContext
    storage: StorageService
    #: (rule kind, ARN) → whether that notification destination exists (functions, event targets).
    destinations: Callable[[str, str], Awaitable[bool]] | None = None
    #: This process's object transforms (api/s3/transform.ObjectTransforms), for GetObject's x-bayou-transform.
    transforms: Any = None
    _owners: dict[str, Node] = field(default_factory=dict)

    async def destination_exists(self, kind: str, arn: str) -> bool:
        return self.destinations is not None and await self.destinations(kind, arn)

    def owner_node(self, tag: str = "Owner") -> Node:
        """The owner element; the same instance for every entry of a listing (nodes are not mutated)."""
        cached = self._owners.get(tag)
        if cached is None:
            cached = Node(tag)
            cached.add("ID", canonical_user_id(self.storage.owner))
            cached.add("DisplayName", OWNER_DISPLAY_NAME)
            self._owners[tag] = cached
        return cached

    def owner_acl(self) -> Node:
        policy = Node("AccessControlPolicy")
        policy.children.append(self.owner_node())
        grant = policy.add("AccessControlList").add("Grant")
        grantee = grant.add("Grantee")
        grantee.attrs = {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xsi:type": "CanonicalUser"}
        grantee.add("ID", canonical_user_id(self.storage.owner))
        grantee.add("DisplayName", OWNER_DISPLAY_NAME)
        grant.add("Permission", "FULL_CONTROL")
        return policy
