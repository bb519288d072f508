"""Browser POST uploads: forms signed by botocore, policy parsing, and every condition."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from auth_helpers import AK, NOW, SK
from botocore.auth import S3SigV4PostAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bayou.auth.credentials import StaticKeyring
from bayou.auth.post_policy import (
    PostPolicy,
    check_content_length,
    check_policy,
    parse_policy,
    substitute_filename,
    verify_post_signature,
)
from bayou.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidPolicyDocument,
    SignatureDoesNotMatch,
)

KEYRING = StaticKeyring({AK: SK})
EXPIRATION = "2013-05-24T01:00:00.000Z"
CONDITIONS: list[Any] = [
    {"bucket": "photos"},
    ["starts-with", "$key", "uploads/"],
    {"acl": "public-read"},
    ["starts-with", "$Content-Type", "image/"],
    ["content-length-range", 10, 100],
    ["eq", "$success_action_status", "201"],
]
FIELDS = {"key": "uploads/${filename}", "acl": "public-read", "Content-Type": "image/png", "success_action_status": "201"}


def sign_form(
    conditions: list[Any] | None = None,
    fields: dict[str, str] | None = None,
    *,
    expiration: str = EXPIRATION,
    region: str = "us-east-1",
    secret: str = SK,
) -> dict[str, str]:
    """A form exactly as botocore's S3SigV4PostAuth (generate_presigned_post) builds it, at NOW."""
    request = AWSRequest("POST", "https://localhost:9000/photos")
    request.context["s3-presign-post-fields"] = dict(FIELDS if fields is None else fields)
    request.context["s3-presign-post-policy"] = {
        "expiration": expiration,
        "conditions": list(CONDITIONS if conditions is None else conditions),
    }
    frozen = datetime.fromtimestamp(NOW, UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        S3SigV4PostAuth(Credentials(AK, secret), "s3", region).add_auth(request)
    return dict(request.context["s3-presign-post-fields"])


def accepted(form: dict[str, str], filename: str = "cat.png", size: int = 50, bucket: str = "photos") -> None:
    assert verify_post_signature(form, KEYRING, NOW, "us-east-1") == AK
    policy = parse_policy(form["Policy" if "Policy" in form else "policy"])
    fields = {**form, "key": substitute_filename(form["key"], filename)}
    check_policy(policy, fields, bucket, size, NOW)


def denied(form: dict[str, str], match: str, **kwargs: Any) -> None:
    with pytest.raises(AccessDenied, match=match):
        accepted(form, **kwargs)


# --- botocore-signed forms -------------------------------------------------------------------------

def test_botocore_form_accepted() -> None:
    accepted(sign_form())


def test_boto3_generate_presigned_post_s3v4(boto_capture) -> None:  # type: ignore[no-untyped-def]
    s3, _ = boto_capture("s3", signature_version="s3v4")
    post = s3.generate_presigned_post(
        "photos",
        "uploads/${filename}",
        Fields={"acl": "public-read", "x-amz-meta-owner": "ü"},
        Conditions=[{"acl": "public-read"}, ["content-length-range", 1, 1000], {"x-amz-meta-owner": "ü"}],
        ExpiresIn=600,
    )
    fields = post["fields"]
    assert verify_post_signature(fields, KEYRING, time.time(), "us-east-1") == AK
    policy = parse_policy(fields["policy"])
    fields = {**fields, "key": substitute_filename(fields["key"], "a.txt")}
    check_policy(policy, fields, "photos", 5, time.time())
    assert policy.content_length_range == (1, 1000)


def test_boto3_default_presigned_post_is_sigv2_and_accepted(boto_capture) -> None:  # type: ignore[no-untyped-def]
    s3, _ = boto_capture("s3")
    fields = s3.generate_presigned_post("photos", "k")["fields"]
    assert "AWSAccessKeyId" in fields
    assert verify_post_signature(fields, KEYRING, time.time(), "us-east-1") == AK
    tampered = {**fields, "policy": fields["policy"][:-4] + "AAA="}
    with pytest.raises(SignatureDoesNotMatch):
        verify_post_signature(tampered, KEYRING, time.time(), "us-east-1")


def test_field_names_case_insensitive() -> None:
    form = {k.upper(): v for k, v in sign_form().items()}
    form["KEY"] = "uploads/x.png"
    assert verify_post_signature(form, KEYRING, NOW, "us-east-1") == AK
    check_policy(parse_policy(form["POLICY"]), form, "photos", 50, NOW)


def test_values_case_sensitive() -> None:
    form = sign_form()
    form["acl"] = "Public-Read"
    denied(form, r'Policy Condition failed: \["eq", "\$acl", "public-read"\]')


# --- conditions ------------------------------------------------------------------------------------

def test_policy_expired() -> None:
    form = sign_form()
    policy = parse_policy(form["policy"])
    check_policy(policy, {**form, "key": "uploads/a"}, "photos", 50, NOW + 3600)
    with pytest.raises(AccessDenied, match="Invalid according to Policy: Policy expired."):
        check_policy(policy, {**form, "key": "uploads/a"}, "photos", 50, NOW + 3601)


def test_bucket_comes_from_url_not_form() -> None:
    denied(sign_form(), r'Policy Condition failed: \["eq", "\$bucket", "photos"\]', bucket="other")
    form = {**sign_form(), "bucket": "photos"}
    denied(form, r"\$bucket", bucket="other")


def test_key_prefix() -> None:
    form = sign_form()
    form["key"] = "elsewhere/${filename}"
    denied(form, r'Policy Condition failed: \["starts-with", "\$key", "uploads/"\]')


def test_starts_with_content_type() -> None:
    form = sign_form()
    form["Content-Type"] = "text/html"
    denied(form, r"starts-with.*Content-Type")


@pytest.mark.parametrize(("size", "error"), [(9, EntityTooSmall), (101, EntityTooLarge)])
def test_content_length_range(size: int, error: type[Exception]) -> None:
    form = sign_form()
    accepted(form, size=10)
    accepted(form, size=100)
    with pytest.raises(error) as info:
        accepted(form, size=size)
    assert info.value.fields["ProposedSize"] == str(size)  # type: ignore[attr-defined]


def test_content_length_deferred() -> None:
    form = sign_form()
    policy = parse_policy(form["policy"])
    check_policy(policy, {**form, "key": "uploads/a"}, "photos", None, NOW)
    assert policy.content_length_range == (10, 100)
    check_content_length(policy, 10)
    with pytest.raises(EntityTooLarge):
        check_content_length(policy, 101)


def test_several_ranges_intersect() -> None:
    form = sign_form([*CONDITIONS, ["content-length-range", "20", "1000"]])
    assert parse_policy(form["policy"]).content_length_range == (20, 100)
    with pytest.raises(EntityTooSmall):
        accepted(form, size=15)


def test_no_range_means_no_limit() -> None:
    form = sign_form([c for c in CONDITIONS if not (isinstance(c, list) and c[0] == "content-length-range")])
    assert parse_policy(form["policy"]).content_length_range is None
    accepted(form, size=10**12)


def test_extra_fields_denied() -> None:
    form = {**sign_form(), "x-amz-meta-evil": "1", "Cache-Control": "no-store"}
    denied(form, "Invalid according to Policy: Extra input fields: cache-control, x-amz-meta-evil")


def test_exempt_fields() -> None:
    form = {**sign_form(), "x-ignore-submit": "Upload", "X-Ignore-Other": "1", "file": "ignored"}
    accepted(form)


def test_condition_on_absent_field_fails() -> None:
    form = sign_form()
    del form["success_action_status"]
    denied(form, "success_action_status")


def test_empty_prefix_allows_anything() -> None:
    conditions = [{"bucket": "photos"}, ["starts-with", "$key", ""], ["starts-with", "$x-amz-meta-tag", ""]]
    accepted(sign_form(conditions, {"key": "any/${filename}"}))
    accepted(sign_form(conditions, {"key": "k", "x-amz-meta-tag": "t"}))


def test_signature_fields_must_be_covered_by_conditions() -> None:
    """botocore adds conditions for x-amz-algorithm/credential/date; a hand-made policy must too."""
    form = {**sign_form(), "key": "uploads/a"}
    policy = parse_policy(form["policy"])
    trimmed = PostPolicy(policy.expiration, tuple(c for c in policy.conditions if c.field != "x-amz-date"))
    with pytest.raises(AccessDenied, match="Extra input fields: x-amz-date"):
        check_policy(trimmed, form, "photos", 50, NOW)


# --- signature -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"])
def test_missing_signature_field(name: str) -> None:
    form = sign_form()
    del form[name]
    with pytest.raises(InvalidArgument, match=f"must contain a field named '{name}'") as info:
        verify_post_signature(form, KEYRING, NOW, "us-east-1")
    assert info.value.fields["ArgumentName"] == name


def test_anonymous_post_denied() -> None:
    with pytest.raises(AccessDenied):
        verify_post_signature({"key": "k"}, KEYRING, NOW, "us-east-1")


def test_bad_algorithm() -> None:
    with pytest.raises(InvalidArgument, match="only supports"):
        verify_post_signature({**sign_form(), "x-amz-algorithm": "AWS4-HMAC-SHA1"}, KEYRING, NOW, "us-east-1")


@pytest.mark.parametrize(
    "credential",
    [f"{AK}/20130524/us-east-1/s3", f"{AK}/20130524/us-east-1/lambda/aws4_request", f"{AK}/20130524/us-east-1/s3/x"],
)
def test_bad_credential(credential: str) -> None:
    with pytest.raises(InvalidArgument, match="mal-formed"):
        verify_post_signature({**sign_form(), "x-amz-credential": credential}, KEYRING, NOW, "us-east-1")


def test_wrong_region() -> None:
    with pytest.raises(AuthorizationHeaderMalformed, match="'eu-west-1' is wrong; expecting 'us-east-1'") as info:
        verify_post_signature(sign_form(region="eu-west-1"), KEYRING, NOW, "us-east-1")
    assert info.value.fields["Region"] == "us-east-1"


@pytest.mark.parametrize("date", ["20130525T000000Z", "2013-05-24", "garbage"])
def test_bad_date(date: str) -> None:
    with pytest.raises(InvalidArgument, match="x-amz-date"):
        verify_post_signature({**sign_form(), "x-amz-date": date}, KEYRING, NOW, "us-east-1")


def test_unknown_key() -> None:
    form = {**sign_form(), "x-amz-credential": "NOPE/20130524/us-east-1/s3/aws4_request"}
    with pytest.raises(InvalidAccessKeyId):
        verify_post_signature(form, KEYRING, NOW, "us-east-1")


def test_wrong_secret() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify_post_signature(sign_form(secret="other"), KEYRING, NOW, "us-east-1")


def test_tampered_policy() -> None:
    form = sign_form()
    raw = json.loads(base64.b64decode(form["policy"]))
    raw["conditions"].append(["content-length-range", 0, 10**12])
    form["policy"] = base64.b64encode(json.dumps(raw).encode()).decode()
    with pytest.raises(SignatureDoesNotMatch):
        verify_post_signature(form, KEYRING, NOW, "us-east-1")


def test_tampered_signature_non_ascii() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify_post_signature({**sign_form(), "x-amz-signature": "é" * 64}, KEYRING, NOW, "us-east-1")


# --- policy parsing --------------------------------------------------------------------------------

def b64(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        ("not base64!", "Invalid JSON"),
        (base64.b64encode(b"{not json").decode(), "Invalid JSON"),
        (base64.b64encode(b"\xff\xfe").decode(), "Invalid JSON"),
        ("é", "Invalid JSON"),
        (b64([]), "Invalid JSON"),
        (b64({"conditions": []}), "missing expiration"),
        (b64({"expiration": EXPIRATION}), "missing conditions"),
        (b64({"expiration": EXPIRATION, "conditions": {}}), "missing conditions"),
        (b64({"expiration": "tomorrow", "conditions": []}), "Invalid 'expiration'"),
        (b64({"expiration": 12, "conditions": []}), "Invalid 'expiration'"),
        (b64({"expiration": EXPIRATION, "conditions": [{"a": "1", "b": "2"}]}), "Simple-Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [{"a": 1}]}), "Simple-Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["eq", "$key"]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["eq", "key", "x"]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["eq", "$", "x"]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["in", "$key", "x"]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["eq", "$key", 5]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["content-length-range", -1, 5]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["content-length-range", 5, 1]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["content-length-range", True, 5]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["content-length-range", "a", 5]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [["content-length-range", 1]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": ["eq"]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [[]]}), "Invalid Condition"),
        (b64({"expiration": EXPIRATION, "conditions": [7]}), "Invalid Condition"),
    ],
)
def test_malformed_policy(policy: str, match: str) -> None:
    with pytest.raises(InvalidPolicyDocument, match=match):
        parse_policy(policy)


def test_parse_policy_shapes() -> None:
    policy = parse_policy(
        b64(
            {
                "expiration": "2013-05-24T00:00:00",
                "conditions": [{"Key": "a"}, ["EQ", "$ACL", "private"], ["Starts-With", "$key", ""]],
            }
        )
    )
    assert policy.expiration == NOW
    assert [(c.op, c.field, c.value) for c in policy.conditions] == [
        ("eq", "key", "a"),
        ("eq", "acl", "private"),
        ("starts-with", "key", ""),
    ]


@pytest.mark.parametrize(
    ("key", "filename", "expected"),
    [
        ("uploads/${filename}", "cat.png", "uploads/cat.png"),
        ("uploads/${filename}", "C:\\Users\\me\\cat.png", "uploads/cat.png"),
        ("uploads/${filename}", "/home/me/cat.png", "uploads/cat.png"),
        ("fixed", "cat.png", "fixed"),
        ("${filename}/${filename}", "x", "x/x"),
    ],
)
def test_substitute_filename(key: str, filename: str, expected: str) -> None:
    assert substitute_filename(key, filename) == expected
