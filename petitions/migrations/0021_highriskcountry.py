"""The campaign's list of high-risk countries, which campaign staff keep in the admin.

The code pre-fills none: which countries are high-risk is the campaign's decision. Campaign
staff may add and remove them; running the grant again changes nothing.
"""

import django.utils.timezone
import django_countries.fields
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

HIGH_RISK = ["view_highriskcountry", "add_highriskcountry", "delete_highriskcountry"]


def _permissions(apps):
    # Permissions are normally created after all migrations; the role needs them now.
    app_config = apps.get_app_config("petitions")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="petitions", codename__in=HIGH_RISK)


def grant(apps, schema_editor):
    staff = apps.get_model("auth", "Group").objects.filter(name="Campaign staff").first()
    if staff is not None:
        staff.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    staff = apps.get_model("auth", "Group").objects.filter(name="Campaign staff").first()
    if staff is not None:
        staff.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('petitions', '0020_signature_source_widget'),
    ]

    operations = [
        migrations.CreateModel(
            name='HighRiskCountry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('country', django_countries.fields.CountryField(max_length=2, unique=True, verbose_name='country')),
                ('added_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='added at')),
                ('added_by', models.CharField(blank=True, editable=False, help_text='The username of the staff member who marked it.', max_length=150, verbose_name='added by')),
            ],
            options={
                'verbose_name': 'high-risk country',
                'verbose_name_plural': 'high-risk countries',
                'ordering': ['country'],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
