import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('partners', '0003_partnerstaff'),
        ('petitions', '0018_signaturerollup'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='exportrecord',
            name='export_kind_valid',
        ),
        migrations.AddField(
            model_name='exportrecord',
            name='partner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='partners.partner', verbose_name='partner organisation'),
        ),
        migrations.AlterField(
            model_name='exportrecord',
            name='kind',
            field=models.CharField(choices=[('admin', 'CSV from the admin'), ('command', 'CSV from the command line'), ('hand-in', 'hand-in package'), ('partner', "a partner's consenting signers")], max_length=10, verbose_name='kind'),
        ),
        migrations.AddConstraint(
            model_name='exportrecord',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['admin', 'command', 'hand-in', 'partner'])), name='export_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='exportrecord',
            constraint=models.CheckConstraint(condition=models.Q(('partner__isnull', True), ('kind', 'partner'), _connector='OR'), name='export_partner_only_for_partner_exports'),
        ),
    ]
