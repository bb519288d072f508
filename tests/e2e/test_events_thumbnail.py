"""The classic AWS "thumbnail on upload" Lambda, unchanged, on a real `bayou server`.

The zip holds only the handler. Pillow is not bundled: execution environments run on the server's
own interpreter, so the venv's site-packages (where the test extra installs Pillow) are importable;
`test_environment_imports_pillow_from_the_servers_venv` checks that assumption on its own.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from .fnutil import create_function, function_arn, handler_zip, invoke_json, lambda_client, unique_name
from .helpers import list_all_keys, unique_bucket

pytestmark = pytest.mark.e2e

# The AWS tutorial's handler (Lambda developer guide, "Using an Amazon S3 trigger to create
# thumbnail images"), with the size fixed at 128x128 as in the older version of that tutorial.
THUMBNAIL_HANDLER = """
import boto3
import os
import sys
import uuid
from urllib.parse import unquote_plus
from PIL import Image
import PIL.Image

s3_client = boto3.client('s3')

def resize_image(image_path, resized_path):
    with Image.open(image_path) as image:
        image.thumbnail((128, 128))
        image.save(resized_path)

def lambda_handler(event, context):
    for record in event['Records']:
        bucket = record['s3']['bucket']['name']
        key = unquote_plus(record['s3']['object']['key'])
        tmpkey = key.replace('/', '')
        download_path = '/tmp/{}{}'.format(uuid.uuid4(), tmpkey)
        upload_path = '/tmp/resized-{}'.format(tmpkey)
        s3_client.download_file(bucket, key, download_path)
        resize_image(download_path, upload_path)
        s3_client.upload_file(upload_path, '{}-resized'.format(bucket), 'resized-{}'.format(key))
"""

WHERE_IS_PIL = """
import sys
import PIL

def handler(event, context):
    return {"executable": sys.executable, "prefix": sys.prefix, "pil": PIL.__file__, "version": PIL.__version__}
"""


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server)


def function_log(server, name: str) -> str:
    """The tail of the function's log file, to explain a failed handler."""
    path = server.data_dir / "functions" / "logs" / f"{name}.log"
    return path.read_text("utf-8", "replace")[-4000:] if path.exists() else f"(no {path})"


def image_bytes(fmt: str, size: tuple[int, int], mode: str) -> bytes:
    img = Image.new(mode, size)
    # A gradient, so the encoder has real content to compress.
    px = img.load()
    for x in range(0, size[0], 4):
        for y in range(0, size[1], 4):
            px[x, y] = (x % 256, y % 256, (x + y) % 256) + ((200,) if mode == "RGBA" else ())
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_environment_imports_pillow_from_the_servers_venv(lam):
    name = unique_name("wherepil")
    create_function(lam, name, WHERE_IS_PIL, Timeout=30)
    result, resp = invoke_json(lam, name)
    assert "FunctionError" not in resp, result
    import PIL

    assert result["executable"] == sys.executable, result
    assert result["prefix"] == sys.prefix, result
    assert Path(result["pil"]).resolve() == Path(PIL.__file__).resolve(), result
    assert result["version"] == PIL.__version__


def test_thumbnails_of_uploaded_jpeg_and_png(server, lam, s3):
    name = unique_name("thumbs")
    # The zip holds only the handler module, as in the tutorial: no Pillow inside.
    create_function(lam, name, handler_zip(THUMBNAIL_HANDLER, module="lambda_function"),
                    handler="lambda_function.lambda_handler", Timeout=30)

    bucket = unique_bucket("photos")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket + "-resized")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            {"Id": "thumbnails", "LambdaFunctionArn": function_arn(name), "Events": ["s3:ObjectCreated:*"]}]})

    uploads = {
        "images/my cat+dog.jpg": ("JPEG", image_bytes("JPEG", (640, 480), "RGB"), (128, 96)),
        "images/diagram.png": ("PNG", image_bytes("PNG", (300, 500), "RGBA"), (77, 128)),
    }
    for key, (fmt, data, _) in uploads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=f"image/{fmt.lower()}")

    expected = {f"resized-{k}" for k in uploads}
    deadline = time.monotonic() + 45
    while set(list_all_keys(s3, bucket + "-resized")) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"resized bucket holds {list_all_keys(s3, bucket + '-resized')}, expected {sorted(expected)}; "
                f"function log:\n{function_log(server, name)}"
            )
        time.sleep(0.2)

    for key, (fmt, _, size) in uploads.items():
        data = s3.get_object(Bucket=bucket + "-resized", Key=f"resized-{key}")["Body"].read()
        with Image.open(io.BytesIO(data)) as thumb:
            assert thumb.format == fmt, (key, thumb.format)
            assert thumb.width <= 128 and thumb.height <= 128, (key, thumb.size)
            assert thumb.size == size, (key, thumb.size)  # aspect ratio kept, longest side 128
    # The originals are untouched.
    for key, (_, data, _) in uploads.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
