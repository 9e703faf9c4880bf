from django.urls import path

from campaign import views

app_name = "pages"

urlpatterns = [
    path("about/", views.about, name="about"),
    path("privacy/", views.privacy, name="privacy"),
    path("coalition/", views.coalition, name="coalition"),
]
