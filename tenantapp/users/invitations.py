"""Invitations: ``POST /{tenant}/users/{id}/invitation`` queues a job that sends the user an
invitation. Sending is a stub that writes what would be mailed to the tenant's audit log."""

import logging

from pyramid.view import view_config

from .. import audit
from ..jobs import tenant_task
from ..openapi import TENANT, USER_ID, Operation
from .models import User
from .resources import UserResource
from .schemas import InvitationQueued

log = logging.getLogger(__name__)
TASK = "users.invite"


@view_config(
    context=UserResource,
    name="invitation",
    request_method="POST",
    renderer="json",
    permission="create",
)
def invite_user(context: UserResource, request):
    """202: the invitation goes out once this request has committed, from a worker."""
    user = context.user
    inviter = request.identity.actor
    ticket = request.defer(TASK, user_id=user.id, invited_by=inviter)
    audit.record(request, "invitation.requested", f"user:{user.id}", ticket=ticket)
    request.response.status_int = 202
    return InvitationQueued(user=user.id, status="queued").model_dump()


OPERATIONS = (
    Operation(
        UserResource,
        "invitation",
        "POST",
        "/{tenant}/users/{user_id}/invitation",
        "Invite (a job)",
        202,
        params=(TENANT, USER_ID),
        returns=InvitationQueued,
    ),
)


@tenant_task(TASK, retry=3)
def send_invitation(request, user_id: int, invited_by: str) -> None:
    user = request.dbsession.get(User, user_id)
    if user is None:  # removed since: nobody to invite
        return
    log.info("invitation to %s (tenant %s)", user.email, request.tenant.record.slug)
    audit.record(
        request,
        "invitation.sent",
        f"user:{user.id}",
        actor=invited_by,
        email=user.email,
        via="stub",
    )
