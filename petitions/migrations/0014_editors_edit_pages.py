"""Editors write the about and privacy pages (stories.Page) as they write stories."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PAGES = ["view_page", "add_page", "change_page"]


def _permissions(apps):
    app_config = apps.get_app_config("stories")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="stories", codename__in=PAGES)


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    editors = Group.objects.filter(name="Editors").first()
    if editors is not None:
        editors.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    editors = Group.objects.filter(name="Editors").first()
    if editors is not None:
        editors.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("stories", "0006_pages"),
        ("petitions", "0013_petition_translations"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
