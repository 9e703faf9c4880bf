"""The staff roles: campaign staff moderate signatures and edit content; exporting is separate."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Campaign staff": [
        ("petitions", "view_petition"),
        ("petitions", "view_signature"),
        ("petitions", "change_signature"),
        ("stories", "view_story"),
        ("stories", "add_story"),
        ("stories", "change_story"),
        ("stories", "view_milestone"),
        ("stories", "add_milestone"),
        ("stories", "change_milestone"),
    ],
    "Signature exporters": [
        ("petitions", "view_petition"),
        ("petitions", "view_signature"),
        ("petitions", "export_signatures"),
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; these roles need them now.
    for label in ("petitions", "stories"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("stories", "0001_initial"),
        ("petitions", "0002_handin_and_export_records"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
