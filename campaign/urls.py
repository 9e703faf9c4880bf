from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from campaign import views
from campaign.sitemaps import SITEMAPS

admin.site.site_header = _("#BringHumanRightsHome administration")
admin.site.site_title = _("#BringHumanRightsHome")
admin.site.index_title = _("Campaign")

handler400 = "campaign.views.bad_request"
handler403 = "campaign.views.permission_denied"
handler404 = "campaign.views.page_not_found"
handler500 = "campaign.views.server_error"

urlpatterns = [
    path("robots.txt", views.robots_txt, name="robots_txt"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
]

urlpatterns += i18n_patterns(
    # Staff read the admin in their language too: /admin/ in English, /ru/admin/ in Russian.
    path(f"{settings.ADMIN_URL}partner-figures/", include("petitions.partner_urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("stories.urls")),
    path("", include("petitions.urls")),
    path("", include("campaign.page_urls")),
    prefix_default_language=False,
)

if settings.DEBUG:
    # Uploaded portraits in development; in production the reverse proxy serves MEDIA_ROOT.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
