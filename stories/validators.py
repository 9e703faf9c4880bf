from django.core.validators import FileExtensionValidator

from campaign.lib import images

validate_portrait_extension = FileExtensionValidator(["jpg", "jpeg", "png", "webp"])


def validate_portrait_file(file) -> None:
    """Portraits: at most 5 MB and 6000 pixels a side (see images.validate_upload)."""
    images.validate_upload(file, max_megabytes=5, max_side=6000)
