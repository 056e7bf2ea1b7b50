"""Study access for views: members only (404 for everyone else), roles decide what they may do."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from .models import Membership


def membership_or_404(request: HttpRequest, study_id: int, *, edit: bool = False, analyse: bool = False) -> Membership:
    """The user's membership of the study: 404 for outsiders, 403 when the role does not allow the action."""
    membership = get_object_or_404(Membership.objects.select_related("study"), study_id=study_id, user=request.user)
    if edit and not membership.can_edit:
        raise PermissionDenied("Only the study's coordinators can change its records.")
    if analyse and not membership.can_analyse:
        raise PermissionDenied("Only the study's coordinators and investigators can run or change analyses.")
    return membership
