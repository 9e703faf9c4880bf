"""Uploaded images are re-encoded: upright, in sRGB, bounded in size, with nothing but pixels."""

import io
import struct
import zlib
from functools import cache

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, ImageCms

from campaign.lib import images

SECRET = "Jane Secret"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def photo(
    width: int = 60,
    height: int = 40,
    *,
    orientation: int = 1,
    image_format: str = "JPEG",
    mode: str = "RGB",
    icc_profile: bytes | None = None,
) -> bytes:
    """An image as a phone or an editor leaves it: red on the left half, blue on the right,
    with EXIF (camera, owner, GPS position, orientation), XMP, a comment, a colour profile and
    bytes appended after the image data, each naming SECRET."""
    image = Image.new(mode, (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    exif[ExifTags.Base.Artist] = SECRET
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 31.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 22.0)
    options = {
        "exif": exif,
        "xmp": f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{SECRET}</x:xmpmeta>'.encode(),
        "icc_profile": icc_profile or srgb_profile(),
    }
    if image_format == "JPEG":
        options["comment"] = SECRET
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue() + f"appended by {SECRET}".encode()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def red_and_blue_swapped_profile() -> bytes:
    """An sRGB profile whose red and blue primaries trade places: red pixels tagged with it are
    blue in sRGB."""
    icc = bytearray(srgb_profile())
    count = struct.unpack(">I", icc[128:132])[0]
    entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 136 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    icc[red : red + 8], icc[blue : blue + 8] = icc[blue : blue + 8], icc[red : red + 8]
    return bytes(icc)


@cache
def bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid black-and-white PNG of width x height pixels: a few hundred KB that would take
    width x height bytes of memory to decode. (Pillow takes seconds to encode one this size.)"""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(1)
    rows = bytes(1 + (width + 7) // 8) * 500  # each row: filter byte, then 8 pixels a byte
    data = b"".join(compressor.compress(rows) for _ in range(height // 500)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


@cache  # several tests look at the same encoding
def encode(data: bytes) -> images.Encoded:
    return images.ImageSpec().encode(io.BytesIO(data))


def all_files(encoded: images.Encoded) -> list[bytes]:
    return [encoded.jpeg, *encoded.webp.values()]


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_it_keeps_nothing_of_an_upload_but_its_pixels(image_format):
    encoded = encode(photo(image_format=image_format))
    for data in all_files(encoded):
        image = Image.open(io.BytesIO(data))
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment"} & image.info.keys()
        for trace in (SECRET.encode(), b"SecretCam", b"Exif", b"xmpmeta", b"appended"):
            assert trace not in data
    # Nothing after the image data: a JPEG ends with its end-of-image marker, and a WebP is as
    # long as its RIFF header says.
    assert encoded.jpeg.endswith(b"\xff\xd9")
    assert Image.open(io.BytesIO(encoded.jpeg)).format == "JPEG"
    for data in encoded.webp.values():
        assert data[:4] == b"RIFF"
        assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)


def test_it_writes_a_progressive_jpeg():
    image = Image.open(io.BytesIO(encode(photo()).jpeg))
    assert image.info.get("progressive")


@pytest.mark.parametrize(
    "orientation,size,red_at",
    [
        (1, (60, 40), (5, 20)),  # as stored: red on the left
        (3, (60, 40), (55, 20)),  # upside down: red on the right
        (6, (40, 60), (20, 5)),  # turned a quarter clockwise: red at the top
        (8, (40, 60), (20, 55)),  # turned a quarter anticlockwise: red at the bottom
    ],
)
def test_it_turns_the_image_upright_from_its_exif_orientation(orientation, size, red_at):
    encoded = encode(photo(orientation=orientation))
    image = Image.open(io.BytesIO(encoded.jpeg))
    assert image.size == size == (encoded.width, encoded.height)
    red, green, blue = image.getpixel(red_at)
    assert red > 200 and blue < 60


@pytest.mark.parametrize(
    "size,stored",
    [((2400, 1800), (1600, 1200)), ((1200, 3000), (640, 1600)), ((300, 200), (300, 200))],
)
def test_it_scales_the_longest_side_down_to_the_limit_and_never_up(size, stored):
    encoded = encode(photo(*size))
    assert (encoded.width, encoded.height) == stored
    assert Image.open(io.BytesIO(encoded.jpeg)).size == stored


@pytest.mark.parametrize(
    "size,renditions",
    [
        ((2400, 1800), {480: (480, 360), 960: (960, 720), 1600: (1600, 1200)}),
        ((1000, 500), {480: (480, 240), 960: (960, 480), 1000: (1000, 500)}),
        ((300, 200), {300: (300, 200)}),
    ],
)
def test_it_makes_webp_renditions_at_the_widths_up_to_the_images_own(size, renditions):
    encoded = encode(photo(*size))
    assert {width: Image.open(io.BytesIO(data)).size for width, data in encoded.webp.items()} == (
        renditions
    )
    assert {Image.open(io.BytesIO(data)).format for data in encoded.webp.values()} == {"WEBP"}


def test_it_converts_colours_to_srgb_from_the_images_profile():
    encoded = encode(photo(icc_profile=red_and_blue_swapped_profile()))
    red, green, blue = Image.open(io.BytesIO(encoded.jpeg)).getpixel((5, 20))
    assert blue > 200 and red < 60


def plain(mode: str, colour, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (20, 20), colour).save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data,colour",
    [
        (plain("RGBA", (0, 0, 0, 0)), (255, 255, 255)),  # transparent: white, not black
        (plain("RGBA", (255, 0, 0, 128)), (255, 128, 128)),  # half transparent red: pink
        (plain("P", 0, transparency=0), (255, 255, 255)),
        (plain("LA", (0, 0)), (255, 255, 255)),
        (plain("I;16", 32896), (128, 128, 128)),  # 16-bit mid-grey
        (plain("L", 128), (128, 128, 128)),
        (plain("CMYK", (0, 255, 255, 0), "JPEG"), (255, 0, 0)),
    ],
    ids=["transparent", "half transparent", "palette", "grey and alpha", "16-bit", "grey", "cmyk"],
)
def test_it_shows_every_colour_model_as_it_looks_on_white(data, colour):
    shown = Image.open(io.BytesIO(encode(data).jpeg)).getpixel((10, 10))
    assert all(abs(a - b) <= 3 for a, b in zip(shown, colour, strict=True)), shown


def test_it_refuses_a_decompression_bomb_with_a_message():
    upload = SimpleUploadedFile("bomb.png", bomb(), content_type="image/png")
    with pytest.raises(ValidationError, match="too many pixels to be processed safely"):
        images.validate_image(upload)
    with pytest.raises(ValidationError, match="at most 40 megapixels"):
        encode(bomb())


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_it_refuses_images_over_the_limit_that_pillow_only_warns_about():
    # 49 megapixels: over MAX_PIXELS, under the twice as many at which Pillow itself refuses.
    with pytest.raises(ValidationError, match="too many pixels") as refused:
        images.validate_image(io.BytesIO(bomb(7000, 7000)))
    assert refused.value.code == "too_many_pixels"


def test_it_refuses_a_bomb_in_a_form_with_its_own_message():
    field = images.ImageFormField()
    with pytest.raises(ValidationError) as refused:
        field.clean(SimpleUploadedFile("bomb.png", bomb(), content_type="image/png"))
    assert refused.value.messages == [
        "This image has too many pixels to be processed safely; at most 40 megapixels, please."
    ]


def test_it_lets_a_form_take_an_image_it_accepts():
    upload = SimpleUploadedFile("photo.jpg", photo(), content_type="image/jpeg")
    assert images.ImageFormField().clean(upload).image.size == (60, 40)


def tiff() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "TIFF")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 50).save(buffer, "JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


@pytest.mark.parametrize(
    "data",
    [b"plain text", tiff(), truncated_jpeg()],
    ids=["text", "a format not accepted", "a truncated JPEG"],
)
def test_it_refuses_files_it_cannot_read_as_an_accepted_image(data):
    with pytest.raises(ValidationError, match="not an image that can be read"):
        images.validate_image(io.BytesIO(data))
    with pytest.raises(ValidationError, match="not an image that can be read"):
        encode(data)


def test_it_returns_the_size_of_an_image_it_accepts():
    assert images.validate_image(io.BytesIO(photo(70, 30))) == (70, 30)


def test_it_names_renditions_after_the_stored_image():
    assert images.rendition_name("portraits/ab12.jpg", 480) == "portraits/ab12-480.webp"


def test_it_lets_migrations_see_a_plain_image_field():
    field = images.ImageField(upload_to="x/", width_field="w", height_field="h")
    name, path, args, kwargs = field.deconstruct()
    assert path == "django.db.models.ImageField"
    assert kwargs["width_field"] == "w"
