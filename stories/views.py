from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from campaign.lib.http import can_preview
from campaign.lib.pagecache import public_page
from stories.models import Milestone, Story


@require_safe
@public_page
def home(request: HttpRequest) -> HttpResponse:
    stories = Story.objects.published().select_related("partner")
    return render(request, "stories/home.html", {"stories": stories})


@require_safe
@public_page
def story_list(request: HttpRequest) -> HttpResponse:
    stories = Story.objects.published().select_related("partner")
    return render(request, "stories/story_list.html", {"stories": stories})


@require_safe
@public_page
def story_detail(request: HttpRequest, slug: str) -> HttpResponse:
    # Staff who may view stories preview one before it is published; everyone else gets a 404.
    story = get_object_or_404(Story.objects.select_related("partner"), slug=slug)
    if not story.is_live and not can_preview(request, Story):
        raise Http404("No published story has this address.")
    previous, following = story.neighbours()
    return render(
        request,
        "stories/story_detail.html",
        {"story": story, "previous": previous, "next": following},
    )


@require_safe
@public_page
def milestones(request: HttpRequest) -> HttpResponse:
    return render(request, "stories/milestones.html", {"milestones": Milestone.objects.published()})
