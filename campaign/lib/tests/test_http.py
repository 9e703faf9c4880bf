"""The shared HTTP answers and checks, on a model of Django's own (they know no app)."""

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.test import RequestFactory

from campaign.lib.http import can_preview, too_many_requests


def test_it_answers_429_with_the_page_and_the_seconds_to_wait(db):
    response = too_many_requests(RequestFactory().get("/"), 42)
    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    html = response.content.decode()
    assert "Please wait a moment" in html
    assert "Please try again in 42 seconds." in html


@pytest.fixture
def request_as(django_user_model):
    numbers = itertools.count()

    def make(*, is_staff: bool = True, is_active: bool = True, perms: tuple[str, ...] = ()):
        user = django_user_model.objects.create_user(
            f"user-{next(numbers)}", is_staff=is_staff, is_active=is_active
        )
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="auth", codename__in=perms)
        )
        request = RequestFactory().get("/")
        request.user = user
        return request

    return make


def test_it_lets_staff_with_the_view_or_change_permission_preview(request_as):
    assert can_preview(request_as(perms=("view_group",)), Group)
    assert can_preview(request_as(perms=("change_group",)), Group)


def test_it_refuses_previews_without_the_permission_or_to_non_staff(request_as):
    assert not can_preview(request_as(), Group)
    assert not can_preview(request_as(perms=("view_user",)), Group)  # another model's
    assert not can_preview(request_as(is_staff=False, perms=("view_group",)), Group)
    assert not can_preview(request_as(is_active=False, perms=("view_group",)), Group)
    anonymous = RequestFactory().get("/")
    anonymous.user = AnonymousUser()
    assert not can_preview(anonymous, Group)
