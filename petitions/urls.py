from django.urls import path

from petitions import views

app_name = "petitions"

urlpatterns = [
    path("petitions/<slug:slug>/", views.petition_detail, name="detail"),
    path("petitions/<slug:slug>/sign/", views.sign, name="sign"),
    path("petitions/<slug:slug>/check-your-inbox/", views.check_inbox, name="check_inbox"),
    path("petitions/<slug:slug>/embed/", views.widget, name="widget"),
    path("petitions/<slug:slug>/embed/sign/", views.widget_sign, name="widget_sign"),
    path(
        "petitions/<slug:slug>/embed/check-your-inbox/",
        views.widget_check_inbox,
        name="widget_check_inbox",
    ),
    path("petitions/<slug:slug>/confirm/", views.confirm, name="confirm"),
    path("petitions/<slug:slug>/new-link/", views.new_link, name="new_link"),
    path("petitions/<slug:slug>/thank-you/", views.thanks, name="thanks"),
    path("petitions/<slug:slug>/check-receipt/", views.check_receipt, name="check_receipt"),
    path(
        "petitions/<slug:slug>/hand-in/receipts.txt",
        views.hand_in_receipts,
        name="hand_in_receipts",
    ),
    path("petitions/<slug:slug>/hand-in/counts.csv", views.hand_in_counts, name="hand_in_counts"),
    path(
        "petitions/<slug:slug>/hand-in/MANIFEST.sha256",
        views.hand_in_manifest,
        name="hand_in_manifest",
    ),
    path("petitions/<slug:slug>/withdraw/", views.withdraw, name="withdraw"),
    path("petitions/<slug:slug>/your-data/", views.own_data, name="own_data"),
    path("petitions/<slug:slug>/your-data/copy/", views.own_data_copy, name="own_data_copy"),
    path("petitions/<slug:slug>/your-data/erase/", views.own_data_erase, name="own_data_erase"),
    path("petitions/<slug:slug>/count.json", views.count_json, name="count_json"),
    path("petitions/<slug:slug>/badge.svg", views.badge_svg, name="badge"),
    # The links of discreet emails, which name no petition.
    path("link/confirm/", views.discreet_confirm, name="discreet_confirm"),
    path("link/withdraw/", views.discreet_withdraw, name="discreet_withdraw"),
    path("link/data/", views.discreet_own_data, name="discreet_own_data"),
]
