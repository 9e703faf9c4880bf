"""Uploaded images, re-encoded before anything is stored or served.

A photo straight from a phone carries more than the picture: EXIF with the GPS position, the
camera and its owner's name, XMP from editing software, comments, a colour profile, and at
times whole files appended after the image data. None of it may reach the public, so nothing
uploaded is kept as it came. The first frame's pixels are decoded, turned upright from the EXIF
orientation, flattened onto white, converted to sRGB, scaled down to a bounded size and
encoded afresh with no metadata at all:

- the main file is a progressive JPEG, which every browser and link preview reads;
- WebP renditions (`<main name without .jpg>-<width>.webp`) are stored beside it, named from it
  and its width, so that no database field has to list them.

Files that Pillow cannot decode in an accepted format are refused, and so are images with more
pixels than MAX_PIXELS (decompression bombs: a small file that becomes gigabytes in memory),
each with a message for the person who uploaded it.

A model keeps the main file in this module's ImageField, with width_field and height_field
(its form gives the same messages), and wraps its save in `ImageSpec.saving()`: a new upload is
stored re-encoded, and the files it replaces are deleted once the transaction has committed.
Templates show `ImageSpec.picture()` with templates/includes/_picture.html.
"""

import io
import math
import posixpath
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageCms, ImageOps

# About 160 MB once decoded with an alpha channel: a 40-megapixel camera's photo still passes.
# Pillow warns above this and refuses above twice this in every Image.open in the process;
# open_image() below refuses above it, warning or not.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Only the decoders a campaign's uploads need are ever run on an uploaded file.
FORMATS = ("JPEG", "PNG", "WEBP")

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _not_readable() -> ValidationError:
    return ValidationError(_("This file is not an image that can be read."), code="invalid")


def _too_many_pixels() -> ValidationError:
    return ValidationError(
        _(
            "This image has too many pixels to be processed safely; at most %(megapixels)s "
            "megapixels, please."
        ),
        params={"megapixels": MAX_PIXELS // 1_000_000},
        code="too_many_pixels",
    )


def is_new_upload(file: Any) -> bool:
    """Whether `file` is an upload not stored yet: a bare uploaded file, or a model's file
    field holding one (Django marks those uncommitted until the model is saved)."""
    return bool(file) and not getattr(file, "_committed", False)


def open_image(file: IO[bytes]) -> Image.Image:
    """The image in `file`, read as far as its header: refused if it is not in FORMATS or has
    more than MAX_PIXELS pixels. Its pixels are decoded only when they are used."""
    file.seek(0)
    try:
        image = Image.open(file, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # The warning arrives as an exception where warnings are errors (as in the tests).
        raise _too_many_pixels() from error
    except Exception as error:  # Pillow raises many kinds of error for a file it cannot read.
        raise _not_readable() from error
    if image.width * image.height > MAX_PIXELS:
        raise _too_many_pixels()
    return image


def validate_image(file: IO[bytes]) -> tuple[int, int]:
    """Refuse, with a message, a file that open_image() refuses or whose pixels cannot be
    decoded (a truncated or damaged file); return its width and height."""
    with open_image(file) as image:
        size = image.size
        # A JPEG decodes at an eighth of its size here: enough to find a damaged file.
        image.draft(None, (size[0] // 8 or 1, size[1] // 8 or 1))
        try:
            image.load()
        except Exception as error:
            raise _not_readable() from error
        finally:
            file.seek(0)
    return size


def validate_upload(file: Any, *, max_megabytes: int, max_side: int | None = None) -> None:
    """Refuse, with a message, a new upload that is too heavy to serve on a phone, is not an
    image, is too large to decode safely or (with max_side) has too many pixels on a side. A
    file already stored passed on its upload and is not read again."""
    if not is_new_upload(file):
        return
    if file.size > max_megabytes * 1024 * 1024:
        raise ValidationError(
            _("The image is %(size)s MB; the limit is %(limit)s MB."),
            params={"size": round(file.size / 1024 / 1024, 1), "limit": max_megabytes},
            code="file_too_large",
        )
    width, height = validate_image(file)
    if max_side and max(width, height) > max_side:
        raise ValidationError(
            _("The image is %(width)s×%(height)s pixels; at most %(limit)s on each side, please."),
            params={"width": width, "height": height, "limit": max_side},
            code="too_many_pixels",
        )


def _upright_srgb(image: Image.Image, max_side: int) -> Image.Image:
    """The first frame, upright, on white, in sRGB and at most max_side on its longest side,
    as a new image that carries nothing but its pixels."""
    icc_profile = image.info.get("icc_profile")
    # A large JPEG decodes straight at a half, quarter or eighth of its size, never below max_side.
    scale = max_side / max(image.size)
    if scale < 1:
        image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit greys from a PNG
        image = image.convert("I").point(lambda value: value / 257).convert("L")
    elif image.mode not in ("RGB", "RGBA", "L", "CMYK"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if image.mode == "RGBA":  # a transparent background would turn black in a JPEG
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
    if icc_profile:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            image = ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # A damaged profile or one for another colour model: the colours as they are.
    clean = Image.new("RGB", image.size)
    clean.paste(image)  # converted to RGB, and nothing of image.info comes with it
    return clean


def _encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


@dataclass(frozen=True)
class Encoded:
    jpeg: bytes
    width: int
    height: int
    webp: dict[int, bytes]  # by width


@dataclass(frozen=True)
class Picture:
    """What a template needs to show a stored image (templates/includes/_picture.html)."""

    src: str  # the JPEG
    width: int | None  # None for an image stored before images were re-encoded
    height: int | None
    srcset: str  # the WebP renditions: "url 480w, url 960w, ..."; empty if there are none


def rendition_name(name: str, width: int) -> str:
    """The WebP rendition of the stored image `name` at `width`: a/b.jpg -> a/b-480.webp."""
    return f"{posixpath.splitext(name)[0]}-{width}.webp"


@dataclass(frozen=True)
class ImageSpec:
    """How one kind of uploaded image is stored: the longest side it is scaled down to (never
    up) and the widths of its WebP renditions. The image's own width is always one of them, so
    browsers that read WebP never get less than the JPEG."""

    max_side: int = 1600
    widths: tuple[int, ...] = (480, 960, 1600)
    jpeg_quality: int = 82
    webp_quality: int = 80

    def rendition_widths(self, width: int) -> tuple[int, ...]:
        return (*(w for w in self.widths if w < width), width)

    def encode(self, file: IO[bytes]) -> Encoded:
        with open_image(file) as opened:
            try:
                image = _upright_srgb(opened, self.max_side)
            except Exception as error:
                raise _not_readable() from error
        webp = {}
        for width in self.rendition_widths(image.width):
            height = max(1, round(image.height * width / image.width))
            scaled = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
            webp[width] = _encode(scaled, "WEBP", quality=self.webp_quality)
        jpeg = _encode(image, "JPEG", quality=self.jpeg_quality, progressive=True, optimize=True)
        return Encoded(jpeg=jpeg, width=image.width, height=image.height, webp=webp)

    def store(self, file: FieldFile) -> tuple[int, int]:
        """Store the new upload in a model's file field re-encoded: the JPEG under a name from
        the field's upload_to (as if "image.jpg" had been uploaded), in place of the upload, and
        the renditions beside it. Returns the JPEG's width and height. The model is not saved."""
        encoded = self.encode(file)
        file.save("image.jpg", ContentFile(encoded.jpeg), save=False)
        try:
            for width, data in encoded.webp.items():
                name = rendition_name(file.name, width)
                if file.storage.save(name, ContentFile(data)) != name:
                    # Only if a file of that name existed: the renditions must be found by name.
                    raise FileExistsError(name)
        except BaseException:
            self.delete(file.storage, file.name, encoded.width)
            raise
        return encoded.width, encoded.height

    def delete(self, storage: Storage, name: str, width: int | None) -> None:
        """Delete a stored image and its renditions (only the main file if width is unknown,
        for an image stored before images were re-encoded)."""
        widths = self.rendition_widths(width) if width else ()
        for stored in (name, *(rendition_name(name, w) for w in widths)):
            storage.delete(stored)

    @contextmanager
    def saving(
        self, instance: models.Model, field_name: str, update_fields: Iterable[str] | None = None
    ) -> Iterator[None]:
        """Around a model's save (`update_fields` as given to it): a new upload in the ImageField
        `field_name` is stored re-encoded and its size set in the field's width_field and
        height_field first; if the save fails, what was stored is deleted; once it has
        committed, so are the files it replaced or cleared. Anything else leaves files alone.
        A save whose update_fields name the image field must name its size fields too."""
        if update_fields is not None and field_name not in update_fields:
            yield
            return
        field = instance._meta.get_field(field_name)
        file = getattr(instance, field_name)
        new_upload = is_new_upload(file)
        previous = None
        if not instance._state.adding and (new_upload or not file):
            stored = type(instance)._base_manager.filter(pk=instance.pk)
            previous = stored.values_list(field_name, field.width_field).first()
        if new_upload or not file:
            width, height = self.store(file) if new_upload else (None, None)
            setattr(instance, field.width_field, width)
            setattr(instance, field.height_field, height)
        try:
            yield
        except BaseException:
            if new_upload:
                self.delete(file.storage, file.name, width)
            raise
        if previous and previous[0] and previous[0] != file.name:
            # Only after the commit: if the save is rolled back, the old files stay in use.
            transaction.on_commit(
                partial(self.delete, file.storage, *previous), using=instance._state.db
            )

    def picture(self, file: FieldFile) -> Picture | None:
        """The stored image in a model's ImageField, with its size and WebP renditions."""
        if not file:
            return None
        width = getattr(file.instance, file.field.width_field)
        height = getattr(file.instance, file.field.height_field)
        if not (width and height):
            return Picture(src=file.url, width=None, height=None, srcset="")
        srcset = ", ".join(
            f"{file.storage.url(rendition_name(file.name, w))} {w}w"
            for w in self.rendition_widths(width)
        )
        return Picture(src=file.url, width=width, height=height, srcset=srcset)


class ImageFormField(forms.ImageField):
    """Django's image form field, which refuses a file open_image() refuses with its message
    rather than a general one, before Django's own check opens it."""

    def to_python(self, data: Any) -> Any:
        if is_new_upload(data) and hasattr(data, "read"):
            with open_image(data):  # leaves the upload open (Image.close() would close it)
                data.seek(0)
        return super().to_python(data)


class ImageField(models.ImageField):
    """A model ImageField for images stored through ImageSpec.saving(), which needs its
    width_field and height_field. ImageSpec sets them from the re-encoded image, so Django never
    reads the file to fill them, neither on assignment (an upload may be a decompression bomb)
    nor whenever a model is loaded. Its form field is ImageFormField. Migrations see a plain
    ImageField, so none of them depends on this class."""

    def update_dimension_fields(self, *args: Any, **kwargs: Any) -> None:
        pass

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": ImageFormField, **kwargs})

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.ImageField", args, kwargs
