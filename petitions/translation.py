"""The petition's text, per language (django-modeltranslation; see campaign.lib.translated).
English stays the text that is handed in."""

from modeltranslation.translator import TranslationOptions, translator

from campaign.lib.translated import show_whole_translations
from petitions.models import Petition


class PetitionTranslation(TranslationOptions):
    required_languages = ()  # only the original's text is required: TranslatedContent.clean
    fields = ("title", "intro", "demands", "addressees")


translator.register(Petition, PetitionTranslation)
show_whole_translations(Petition, PetitionTranslation.fields, required=PetitionTranslation.fields)
