"""Story and milestone text, per language (django-modeltranslation; see campaign.lib.translated)."""

from modeltranslation.translator import TranslationOptions, translator

from campaign.lib.translated import show_whole_translations
from stories.models import Milestone, Page, Story


class StoryTranslation(TranslationOptions):
    required_languages = ()  # only the original's text is required: TranslatedContent.clean
    fields = ("headline", "teaser", "body", "portrait_alt")


class MilestoneTranslation(TranslationOptions):
    required_languages = ()  # only the original's text is required: TranslatedContent.clean
    fields = ("title", "description")


class PageTranslation(TranslationOptions):
    required_languages = ()
    fields = ("title", "body")


translator.register(Story, StoryTranslation)
translator.register(Page, PageTranslation)
translator.register(Milestone, MilestoneTranslation)
show_whole_translations(Story, StoryTranslation.fields, required=("headline", "teaser", "body"))
show_whole_translations(
    Milestone, MilestoneTranslation.fields, required=MilestoneTranslation.fields
)
show_whole_translations(Page, PageTranslation.fields, required=PageTranslation.fields)
