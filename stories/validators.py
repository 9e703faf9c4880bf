from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.utils.translation import gettext_lazy as _

from campaign.lib import images

MAX_PORTRAIT_BYTES = 5 * 1024 * 1024
MAX_PORTRAIT_SIDE = 6000

validate_portrait_extension = FileExtensionValidator(["jpg", "jpeg", "png", "webp"])


def validate_portrait_file(file) -> None:
    """Refuse portraits that are too heavy to serve on a phone, that are not images, or that
    are too large to decode safely. A portrait already stored passed on its upload."""
    if not images.is_new_upload(file):
        return
    if file.size > MAX_PORTRAIT_BYTES:
        raise ValidationError(
            _("The image is %(size)s MB; the limit is 5 MB."),
            params={"size": round(file.size / 1024 / 1024, 1)},
            code="file_too_large",
        )
    width, height = images.validate_image(file)
    if max(width, height) > MAX_PORTRAIT_SIDE:
        raise ValidationError(
            _("The image is %(width)s×%(height)s pixels; at most 6000 on each side, please."),
            params={"width": width, "height": height},
            code="too_many_pixels",
        )
