import datetime as dt

import django.db.models.deletion
import django_countries.fields
from django.db import migrations, models
from django.db.models.functions import Trunc

BATCH = 2000

# Each rollup and the signature attributes it is keyed by (as petitions.models has them when
# this was written; "hour" is the UTC hour of the confirmation).
KEYS = {
    "SignatureRollup": ("petition_id", "hour", "country", "partner_id", "source", "source_story"),
    "SignatureTimeline": ("petition_id", "hour", "partner_id"),
    "SignatureTotals": ("petition_id", "country", "partner_id", "source", "source_story"),
}


def backfill(apps, schema_editor):
    """Fill the rollups from the confirmed signatures already there: the database aggregates
    (one row per key, in shard 0), written in batches."""
    Signature = apps.get_model("petitions", "Signature")
    hour = Trunc("confirmed_at", "hour", output_field=models.DateTimeField(), tzinfo=dt.UTC)
    for name, key in KEYS.items():
        Rollup = apps.get_model("petitions", name)
        rows = (
            Signature.objects.filter(status="confirmed")
            .order_by()
            .annotate(hour=hour)
            .values(*key)
            .annotate(total=models.Count("pk"))
        )
        batch = []
        for row in rows.iterator(chunk_size=BATCH):
            total = row.pop("total")
            batch.append(Rollup(**row, shard=0, count=total))
            if len(batch) == BATCH:
                Rollup.objects.bulk_create(batch)
                batch = []
        if batch:
            Rollup.objects.bulk_create(batch)


PARTNER_HELP = 'A partner organisation that brought signatures cannot be deleted, only hidden.'


class Migration(migrations.Migration):

    dependencies = [
        ('partners', '0002_shows_count'),
        ('petitions', '0017_consents'),
    ]

    operations = [
        migrations.CreateModel(
            name='SignatureRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField(help_text='The start of the hour confirmed in (UTC).', verbose_name='hour')),
                ('country', django_countries.fields.CountryField(max_length=2, verbose_name='country')),
                ('source', models.CharField(max_length=10, verbose_name='signed from')),
                ('source_story', models.SlugField(blank=True, max_length=80, verbose_name='story signed from')),
                ('shard', models.PositiveSmallIntegerField()),
                ('count', models.IntegerField(default=0, verbose_name='confirmed signatures')),
                ('partner', models.ForeignKey(blank=True, help_text=PARTNER_HELP, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='signature_rollups', to='partners.partner', verbose_name='partner organisation')),
                ('petition', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rollups', to='petitions.petition', verbose_name='petition')),
            ],
            options={
                'verbose_name': 'signature figures',
                'verbose_name_plural': 'signature figures',
                'indexes': [models.Index(fields=['petition', 'hour'], name='rollup_petition_hour')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('partner__isnull', False)), fields=('petition', 'hour', 'country', 'partner', 'source', 'source_story', 'shard'), name='rollup_unique_shard'), models.UniqueConstraint(condition=models.Q(('partner__isnull', True)), fields=('petition', 'hour', 'country', 'source', 'source_story', 'shard'), name='rollup_unique_shard_no_partner'), models.CheckConstraint(condition=models.Q(('count__gte', 0)), name='rollup_count_not_negative')],
            },
        ),
        migrations.CreateModel(
            name='SignatureTimeline',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField(help_text='The start of the hour confirmed in (UTC).', verbose_name='hour')),
                ('shard', models.PositiveSmallIntegerField()),
                ('count', models.IntegerField(default=0, verbose_name='confirmed signatures')),
                ('partner', models.ForeignKey(blank=True, help_text=PARTNER_HELP, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='partners.partner', verbose_name='partner organisation')),
                ('petition', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='petitions.petition', verbose_name='petition')),
            ],
            options={
                'verbose_name': 'signatures per hour',
                'verbose_name_plural': 'signatures per hour',
                'constraints': [models.UniqueConstraint(condition=models.Q(('partner__isnull', False)), fields=('petition', 'hour', 'partner', 'shard'), name='timeline_unique_shard'), models.UniqueConstraint(condition=models.Q(('partner__isnull', True)), fields=('petition', 'hour', 'shard'), name='timeline_unique_shard_no_partner'), models.CheckConstraint(condition=models.Q(('count__gte', 0)), name='timeline_count_not_negative')],
            },
        ),
        migrations.CreateModel(
            name='SignatureTotals',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('country', django_countries.fields.CountryField(max_length=2, verbose_name='country')),
                ('source', models.CharField(max_length=10, verbose_name='signed from')),
                ('source_story', models.SlugField(blank=True, max_length=80, verbose_name='story signed from')),
                ('shard', models.PositiveSmallIntegerField()),
                ('count', models.IntegerField(default=0, verbose_name='confirmed signatures')),
                ('partner', models.ForeignKey(blank=True, help_text=PARTNER_HELP, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='partners.partner', verbose_name='partner organisation')),
                ('petition', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='petitions.petition', verbose_name='petition')),
            ],
            options={
                'verbose_name': 'signature totals',
                'verbose_name_plural': 'signature totals',
                'constraints': [models.UniqueConstraint(condition=models.Q(('partner__isnull', False)), fields=('petition', 'country', 'partner', 'source', 'source_story', 'shard'), name='totals_unique_shard'), models.UniqueConstraint(condition=models.Q(('partner__isnull', True)), fields=('petition', 'country', 'source', 'source_story', 'shard'), name='totals_unique_shard_no_partner'), models.CheckConstraint(condition=models.Q(('count__gte', 0)), name='totals_count_not_negative')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
