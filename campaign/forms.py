from django.forms.renderers import TemplatesSetting


class CampaignFormRenderer(TemplatesSetting):
    """Form fields rendered with templates/forms/field.html: label, hint, errors, widget."""

    field_template_name = "forms/field.html"
