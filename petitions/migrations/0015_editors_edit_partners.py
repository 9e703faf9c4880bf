"""Editors keep the coalition's partner organisations (partners.Partner) as they keep stories."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PARTNERS = ["view_partner", "add_partner", "change_partner"]


def _permissions(apps):
    app_config = apps.get_app_config("partners")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="partners", codename__in=PARTNERS)


def grant(apps, schema_editor):
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is not None:
        editors.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    editors = apps.get_model("auth", "Group").objects.filter(name="Editors").first()
    if editors is not None:
        editors.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0001_initial"),
        ("petitions", "0014_editors_edit_pages"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
