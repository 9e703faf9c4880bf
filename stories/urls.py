from django.urls import path

from stories import views
from stories.feeds import StoryFeed

app_name = "stories"

urlpatterns = [
    path("", views.home, name="home"),
    path("stories/", views.story_list, name="list"),
    path("stories/feed/", StoryFeed(), name="feed"),
    path("stories/<slug:slug>/", views.story_detail, name="detail"),
    path("milestones/", views.milestones, name="milestones"),
]
