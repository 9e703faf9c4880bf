"""Failed admin sign-ins are limited per account and per client (campaign.admin_site)."""

from django.test import Client
from django.urls import reverse


def test_it_limits_failed_sign_ins_per_account(db, django_user_model, settings):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = "3/15m"
    settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "100/h"
    django_user_model.objects.create_user("target", password="right password", is_staff=True)
    url = reverse("admin:login")
    for n in range(3):
        client = Client(REMOTE_ADDR=f"192.0.2.{n}")
        assert client.post(url, {"username": "target", "password": "wrong"}).status_code == 200
    blocked = Client(REMOTE_ADDR="192.0.2.99").post(
        url, {"username": "target", "password": "right password"}
    )
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    other_account = Client(REMOTE_ADDR="192.0.2.99").post(url, {"username": "x", "password": "y"})
    assert other_account.status_code == 200


def test_it_limits_failed_sign_ins_per_client(db, django_user_model, settings):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = "100/15m"
    settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "3/h"
    django_user_model.objects.create_user("real", password="right password", is_staff=True)
    client = Client(REMOTE_ADDR="198.51.100.1")
    url = reverse("admin:login")
    for n in range(3):
        client.post(url, {"username": f"guess{n}", "password": "wrong"})
    response = client.post(url, {"username": "real", "password": "right password"})
    assert response.status_code == 429
    elsewhere = Client(REMOTE_ADDR="198.51.100.2").post(
        url, {"username": "real", "password": "right password"}
    )
    assert elsewhere.status_code == 302
