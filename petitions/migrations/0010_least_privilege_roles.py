"""Staff roles with least privilege: editors edit content, campaign staff moderate signatures
without seeing who signed, data officers see signers' personal data, export and erase.

"Campaign staff" keeps its name and members but loses the stories (editors have them now: its
members are made editors too, the first time, so that nobody stops being able to do their work)
and the erasure. "Signature exporters" becomes "Data officers", members and all. Running it again
changes nothing; the reverse puts back the roles of 0003.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STORIES = [
    ("stories", "view_story"),
    ("stories", "add_story"),
    ("stories", "change_story"),
    ("stories", "view_milestone"),
    ("stories", "add_milestone"),
    ("stories", "change_milestone"),
]
CAMPAIGN_STAFF = [
    ("petitions", "view_petition"),
    ("petitions", "view_signature"),
    ("petitions", "change_signature"),  # the moderation actions
]
ROLES = {
    "Editors": [*STORIES, ("petitions", "view_petition"), ("petitions", "change_petition")],
    "Campaign staff": CAMPAIGN_STAFF,
    "Data officers": [
        *CAMPAIGN_STAFF,
        ("petitions", "view_personal_data"),
        ("petitions", "export_signatures"),
        ("petitions", "erase_signatures"),
    ],
}
# As 0003_staff_roles made them.
OLD_ROLES = {
    "Campaign staff": [*CAMPAIGN_STAFF, *STORIES],
    "Signature exporters": [
        ("petitions", "view_petition"),
        ("petitions", "view_signature"),
        ("petitions", "export_signatures"),
    ],
}


def _create_permissions(apps):
    # Permissions are normally created after all migrations; these roles need them now.
    for label in ("petitions", "stories"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in codenames
    ]


def _rename(Group, old_name, new_name):
    """The group called old_name is called new_name from now on; members are kept."""
    old = Group.objects.filter(name=old_name).first()
    new = Group.objects.filter(name=new_name).first()
    if old is None:
        return
    if new is None:
        old.name = new_name
        old.save(update_fields=["name"])
    else:
        new.user_set.add(*old.user_set.all())
        old.delete()


def reshape_roles(apps, schema_editor):
    _create_permissions(apps)
    Group = apps.get_model("auth", "Group")
    _rename(Group, "Signature exporters", "Data officers")
    staff, _created = Group.objects.get_or_create(name="Campaign staff")
    editors, editors_created = Group.objects.get_or_create(name="Editors")
    if editors_created:
        editors.user_set.add(*staff.user_set.all())
    for name, codenames in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(apps, codenames))


def restore_roles(apps, schema_editor):
    _create_permissions(apps)
    Group = apps.get_model("auth", "Group")
    _rename(Group, "Data officers", "Signature exporters")
    Group.objects.filter(name="Editors").delete()
    for name, codenames in OLD_ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("stories", "0001_initial"),
        ("petitions", "0009_personal_data_access"),
    ]

    operations = [migrations.RunPython(reshape_roles, restore_roles)]
