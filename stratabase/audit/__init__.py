"""The tamper-evident audit log: who did what, from where, chained by hashes.

``record(session, …)`` stages an entry on the caller's transaction (written only if it
commits); ``service`` lists entries for admins and verifies the chain.
"""

from stratabase.audit.chain import AuditEntry, audit_after, record
from stratabase.audit.context import RequestContext, bind_request, current_request

__all__ = [
    "AuditEntry",
    "RequestContext",
    "audit_after",
    "bind_request",
    "current_request",
    "record",
]
