from django.core.asgi import get_asgi_application

from campaign.startup import application_or_exit

application = application_or_exit(get_asgi_application)
