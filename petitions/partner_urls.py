"""The partner figures pages, under the admin's address (campaign.urls): each view wrapped by
the admin site, so that it needs a staff sign-in with the second factor like the admin."""

from django.contrib import admin
from django.urls import path

from petitions import partner_views

app_name = "partner_figures"

urlpatterns = [
    path("", admin.site.admin_view(partner_views.partner_list), name="list"),
    path("<slug:slug>/", admin.site.admin_view(partner_views.partner_detail), name="detail"),
    path(
        "<slug:slug>/export/",
        admin.site.admin_view(partner_views.partner_export),
        name="export",
    ),
]
