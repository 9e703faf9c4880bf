"""A partner's description, per language (django-modeltranslation; see campaign.lib.translated)."""

from modeltranslation.translator import TranslationOptions, translator

from campaign.lib.translated import show_whole_translations
from partners.models import Partner


class PartnerTranslation(TranslationOptions):
    required_languages = ()
    fields = ("description",)


translator.register(Partner, PartnerTranslation)
show_whole_translations(Partner, PartnerTranslation.fields, required=PartnerTranslation.fields)
