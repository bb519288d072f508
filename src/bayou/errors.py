"""One error vocabulary (DESIGN.md invariant 6).

Each class is named exactly after the S3 (or, later, Lambda) error code it renders as and carries
its HTTP status. The core raises them; the API layer renders them once, as S3 XML or Lambda JSON.
Foreign exceptions (sqlite3, OSError) are mapped to these at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from typing import ClassVar


class BayouError(Exception):
    """Base for every error a client may see. ``code`` defaults to the class name."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> None:
        self.message = message or self.default_message
        self.headers: dict[str, str] = dict(headers or {})
        #: Extra elements of the error body (e.g. BucketName, Key, ArgumentName).
        self.fields: dict[str, str] = fields
        super().__init__(self.message)


class S3Error(BayouError):
    """An error rendered as S3's XML error document."""


# --- 4xx: the client's request ------------------------------------------------------------------

class AccessDenied(S3Error):
    status = 403
    default_message = "Access Denied"


class AuthorizationHeaderMalformed(S3Error):
    status = 400
    default_message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    status = 400
    default_message = "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."


class BadDigest(S3Error):
    status = 400
    default_message = "The Content-MD5 or checksum value that you specified did not match what the server received."


class BucketAlreadyExists(S3Error):
    status = 409
    default_message = "The requested bucket name is not available."


class BucketAlreadyOwnedByYou(S3Error):
    status = 409
    default_message = "Your previous request to create the named bucket succeeded and you already own it."


class BucketNotEmpty(S3Error):
    status = 409
    default_message = "The bucket that you tried to delete is not empty."


class EntityTooLarge(S3Error):
    status = 400
    default_message = "Your proposed upload exceeds the maximum allowed object size."


class EntityTooSmall(S3Error):
    status = 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class ExpiredToken(S3Error):
    status = 400
    default_message = "The provided token has expired."


class IllegalLocationConstraintException(S3Error):
    status = 400
    default_message = "The specified location-constraint is not valid for this endpoint."


class IncompleteBody(S3Error):
    status = 400
    default_message = "You did not provide the number of bytes specified by the Content-Length HTTP header."


class InvalidAccessKeyId(S3Error):
    status = 403
    default_message = "The AWS access key ID that you provided does not exist in our records."


class InvalidArgument(S3Error):
    status = 400
    default_message = "Invalid Argument"


class InvalidBucketName(S3Error):
    status = 400
    default_message = "The specified bucket is not valid."


class InvalidDigest(S3Error):
    status = 400
    default_message = "The Content-MD5 or checksum value that you specified is not valid."


class InvalidLocationConstraint(S3Error):
    status = 400
    default_message = "The specified location constraint is not valid."


class InvalidPart(S3Error):
    status = 400
    default_message = "One or more of the specified parts could not be found."


class InvalidPartOrder(S3Error):
    status = 400
    default_message = "The list of parts was not in ascending order."


class InvalidRange(S3Error):
    status = 416
    default_message = "The requested range is not satisfiable."


class InvalidRequest(S3Error):
    status = 400
    default_message = "Invalid Request"


class InvalidStorageClass(S3Error):
    status = 400
    default_message = "The storage class you specified is not valid."


class InvalidTag(S3Error):
    status = 400
    default_message = "The tag provided was not a valid tag."


class KeyTooLongError(S3Error):
    status = 400
    default_message = "Your key is too long."


class MalformedPOSTRequest(S3Error):
    status = 400
    default_message = "The body of your POST request is not well-formed multipart/form-data."


class MalformedXML(S3Error):
    status = 400
    default_message = "The XML you provided was not well-formed or did not validate against our published schema."


class MaxMessageLengthExceeded(S3Error):
    status = 400
    default_message = "Your request was too big."


class MetadataTooLarge(S3Error):
    status = 400
    default_message = "Your metadata headers exceed the maximum allowed metadata size."


class MethodNotAllowed(S3Error):
    status = 405
    default_message = "The specified method is not allowed against this resource."


class MissingContentLength(S3Error):
    status = 411
    default_message = "You must provide the Content-Length HTTP header."


class MissingSecurityHeader(S3Error):
    status = 400
    default_message = "Your request is missing a required header."


class NoSuchBucket(S3Error):
    status = 404
    default_message = "The specified bucket does not exist."


class NoSuchKey(S3Error):
    status = 404
    default_message = "The specified key does not exist."


class NoSuchUpload(S3Error):
    status = 404
    default_message = "The specified multipart upload does not exist."


class NoSuchVersion(S3Error):
    status = 404
    default_message = "The specified version does not exist."


class NoSuchBucketPolicy(S3Error):
    status = 404
    default_message = "The bucket policy does not exist."


class NoSuchCORSConfiguration(S3Error):
    status = 404
    default_message = "The CORS configuration does not exist."


class NoSuchLifecycleConfiguration(S3Error):
    status = 404
    default_message = "The lifecycle configuration does not exist."


class NoSuchTagSet(S3Error):
    status = 404
    default_message = "The TagSet does not exist."


class NoSuchWebsiteConfiguration(S3Error):
    status = 404
    default_message = "The specified bucket does not have a website configuration."


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    status = 404
    default_message = "The server side encryption configuration was not found."


class NotModified(S3Error):
    """304: rendered with no body."""

    status = 304
    default_message = "Not Modified"


class PreconditionFailed(S3Error):
    status = 412
    default_message = "At least one of the pre-conditions you specified did not hold."


class ConditionalRequestConflict(S3Error):
    status = 409
    default_message = "A conflicting operation occurred. If using PutObject you can retry the request."


class RequestTimeTooSkewed(S3Error):
    status = 403
    default_message = "The difference between the request time and the server's time is too large."


class RequestTimeout(S3Error):
    status = 400
    default_message = "Your socket connection to the server was not read from or written to within the timeout period."


class SignatureDoesNotMatch(S3Error):
    status = 403
    default_message = "The request signature we calculated does not match the signature you provided. Check your key and signing method."


class UnexpectedContent(S3Error):
    status = 400
    default_message = "This request does not support content."


class XAmzContentSHA256Mismatch(S3Error):
    status = 400
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class InvalidEncryptionAlgorithmError(S3Error):
    status = 400
    default_message = "The encryption request you specified is not valid."


class InvalidObjectState(S3Error):
    status = 403
    default_message = "The operation is not valid for the current state of the object."


class MalformedPolicy(S3Error):
    status = 400
    default_message = "Policy has invalid resource."


class InvalidPolicyDocument(S3Error):
    status = 400
    default_message = "The content of the form does not meet the conditions specified in the policy document."


# --- 5xx and not-yet-built ----------------------------------------------------------------------

class InternalError(S3Error):
    status = 500


class NotImplemented(S3Error):  # noqa: A001 - the S3 code is literally "NotImplemented"
    status = 501
    default_message = "A header or query you provided implies functionality that is not implemented."


class ServiceUnavailable(S3Error):
    status = 503
    default_message = "Please reduce your request rate."


class SlowDown(S3Error):
    status = 503
    default_message = "Please reduce your request rate."


class InvalidURI(S3Error):
    status = 400
    default_message = "Couldn't parse the specified URI."


class InvalidPartNumber(S3Error):
    status = 416
    default_message = "The requested partnumber is not satisfiable"


# --- Lambda -------------------------------------------------------------------------------------
# Rendered as Lambda's JSON error ({"Type": ..., "message": ...} plus `fields`, with the code in the
# x-amzn-ErrorType header) by api/lambda_/render.py.

class LambdaError(BayouError):
    """An error rendered as Lambda's JSON error body."""

    kind: ClassVar[str] = "User"  # the body's "Type": "User" or "Service"


class ResourceNotFoundException(LambdaError):
    status = 404
    default_message = "The resource you requested does not exist."


class ResourceConflictException(LambdaError):
    status = 409
    default_message = "The resource already exists, or another operation is in progress."


class InvalidParameterValueException(LambdaError):
    status = 400
    default_message = "One of the parameters in the request is not valid."


class InvalidRequestContentException(LambdaError):
    status = 400
    default_message = "The request body could not be parsed as JSON."


class TooManyRequestsException(LambdaError):
    """429 with Retry-After and a Reason field (e.g. ReservedFunctionConcurrentInvocationLimitExceeded)."""

    status = 429
    default_message = "Rate Exceeded."


class RequestTooLargeException(LambdaError):
    status = 413
    default_message = "The request payload exceeded the Invoke request body JSON input quota."


class PreconditionFailedException(LambdaError):
    status = 412
    default_message = "The RevisionId provided does not match the latest RevisionId for the Lambda function."


class UnsupportedMediaTypeException(LambdaError):
    status = 415
    default_message = "The content type of the Invoke request body is not JSON."


class CodeStorageExceededException(LambdaError):
    status = 400
    default_message = "Your Amazon Web Services account has exceeded its maximum total code size."


class ServiceException(LambdaError):
    kind = "Service"
    status = 500
    default_message = "The Lambda service encountered an internal error."


# --- EventBridge Scheduler ------------------------------------------------------------------------
# Scheduler's error shapes carry {"Message": ...}; api/scheduler/render.py renders them (and maps the
# Lambda codes above onto Scheduler's vocabulary). ResourceNotFoundException is shared with Lambda.

class ValidationException(LambdaError):
    status = 400
    default_message = "The input fails to satisfy the constraints specified by an AWS service."


class ConflictException(LambdaError):
    status = 409
    default_message = "Updating or deleting the resource can cause an inconsistent state."


class InternalServerException(LambdaError):
    kind = "Service"
    status = 500
    default_message = "Unexpected error encountered while processing the request."


class ThrottlingException(LambdaError):
    status = 429
    default_message = "The request was denied due to request throttling."


class ProvisionedConcurrencyConfigNotFoundException(LambdaError):
    status = 404
    default_message = "No Provisioned Concurrency Config found for this function."


# --- S3 Object Lambda (GetObject with x-bayou-transform; api/s3/transform.py) ----------------------
# S3 XML errors named after Object Lambda's codes; the statuses are Bayou's choice where AWS does not say.

class LambdaNotFound(S3Error):
    status = 404
    default_message = "The transform function does not exist."


class LambdaRuntimeError(S3Error):
    status = 500
    default_message = "The transform function failed."


class LambdaTimeout(S3Error):
    status = 500
    default_message = "The transform function timed out."


class LambdaResponseNotReceived(S3Error):
    status = 500
    default_message = "The transform function returned without a response (WriteGetObjectResponse or a body)."


class InvalidRequestToken(S3Error):
    status = 400
    default_message = "The request route or token of WriteGetObjectResponse is unknown or already used."
