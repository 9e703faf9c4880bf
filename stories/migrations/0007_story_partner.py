"""A story names its partner through partners.Partner: each partner name stories held becomes a
partner (found by name, or created with the story's country and the website given)."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils.text import slugify


def to_partners(apps, schema_editor):
    Story = apps.get_model("stories", "Story")
    Partner = apps.get_model("partners", "Partner")
    for story in Story.objects.exclude(partner_name=""):
        partner = Partner.objects.filter(name=story.partner_name).first()
        if partner is None:
            base = slugify(story.partner_name)[:50] or "partner"
            slug, n = base, 1
            while Partner.objects.filter(slug=slug).exists():
                n += 1
                slug = f"{base}-{n}"
            partner = Partner.objects.create(
                name=story.partner_name,
                slug=slug,
                country=story.country,
                website=story.partner_url,
            )
        story.partner = partner
        story.save(update_fields=["partner"])


def to_names(apps, schema_editor):
    Story = apps.get_model("stories", "Story")
    for story in Story.objects.exclude(partner=None).select_related("partner"):
        story.partner_name = story.partner.name
        story.partner_url = story.partner.website
        story.save(update_fields=["partner_name", "partner_url"])


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0001_initial"),
        ("stories", "0006_pages"),
    ]

    operations = [
        migrations.AddField(
            model_name="story",
            name="partner",
            field=models.ForeignKey(
                blank=True,
                help_text="The organisation the story is told with.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="stories",
                to="partners.partner",
                verbose_name="partner organisation",
            ),
        ),
        migrations.RunPython(to_partners, to_names),
        migrations.RemoveField(model_name="story", name="partner_name"),
        migrations.RemoveField(model_name="story", name="partner_url"),
    ]
