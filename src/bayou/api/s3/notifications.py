"""Put/GetBucketNotificationConfiguration, in S3's XML both ways.

Destinations are checked before anything is stored, as S3 does ("Unable to validate the
following destination configurations"): a function ARN must name an existing function (and
qualifier), a queue or topic ARN a configured Bayou target.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from bayou.api.body import read_document, trailer_names
from bayou.api.http import Response
from bayou.api.s3 import router
from bayou.api.s3.context import S3Context
from bayou.api.s3.headers import integrity_from
from bayou.api.s3.xml import MAX_XML_BODY, Node, child_text, document, parse
from bayou.errors import InvalidArgument, MalformedXML
from bayou.storage.events import NotificationConfig, NotificationRule

XML = ("Content-Type", "application/xml")
#: (element, ARN element, rule kind); S3 names the function element CloudFunctionConfiguration on the wire.
_KINDS = (
    ("TopicConfiguration", "Topic", "topic"),
    ("QueueConfiguration", "Queue", "queue"),
    ("CloudFunctionConfiguration", "CloudFunction", "function"),
    ("LambdaFunctionConfiguration", "LambdaFunctionArn", "function"),
)
_ELEMENT = {"topic": ("TopicConfiguration", "Topic"), "queue": ("QueueConfiguration", "Queue"),
            "function": ("CloudFunctionConfiguration", "CloudFunction")}


def parse_config(root: Element) -> NotificationConfig:
    if root.tag != "NotificationConfiguration":
        raise MalformedXML()
    rules: list[NotificationRule] = []
    event_bridge = False
    for child in root:
        if child.tag == "EventBridgeConfiguration":
            event_bridge = True
            continue
        kind = next((k for k in _KINDS if k[0] == child.tag), None)
        if kind is None:
            raise MalformedXML()
        rules.append(_rule(child, kind[1], kind[2], len(rules)))
    return NotificationConfig(tuple(rules), event_bridge)


def _rule(element: Element, arn_tag: str, kind: str, index: int) -> NotificationRule:
    arn = child_text(element, arn_tag)
    if kind == "function" and arn is None:
        arn = child_text(element, "LambdaFunctionArn") or child_text(element, "CloudFunction")
    if not arn:
        raise InvalidArgument("A destination must be specified", ArgumentName=arn_tag)
    events = tuple((e.text or "").strip() for e in element.findall("Event"))
    prefix = suffix = ""
    rules = element.findall("Filter/S3Key/FilterRule")
    seen: set[str] = set()
    for filter_rule in rules:
        name = (child_text(filter_rule, "Name") or "").strip().lower()
        value = child_text(filter_rule, "Value") or ""
        if name not in ("prefix", "suffix") or name in seen:
            raise InvalidArgument(
                "Cannot specify more than one prefix rule in a filter." if name in seen
                else "filter rule name must be either prefix or suffix",
                ArgumentName="FilterRule.Name", ArgumentValue=name,
            )
        seen.add(name)
        if name == "prefix":
            prefix = value
        else:
            suffix = value
    rule_id = (child_text(element, "Id") or "").strip() or f"rule-{index + 1}"
    return NotificationRule(rule_id, kind, arn.strip(), events, prefix, suffix)


def render_config(config: NotificationConfig) -> bytes:
    root = Node("NotificationConfiguration")
    for rule in config.rules:
        element_tag, arn_tag = _ELEMENT[rule.kind]
        element = root.add(element_tag)
        element.add("Id", rule.id)
        element.add(arn_tag, rule.arn)
        for event in rule.events:
            element.add("Event", event)
        if rule.prefix or rule.suffix:
            key = element.add("Filter").add("S3Key")
            for name, value in (("prefix", rule.prefix), ("suffix", rule.suffix)):
                if value:
                    filter_rule = key.add("FilterRule")
                    filter_rule.add("Name", name)
                    filter_rule.add("Value", value)
    if config.event_bridge:
        root.add("EventBridgeConfiguration")
    return document(root)


async def put_bucket_notification(ctx: S3Context, ep: router.PutBucketNotification) -> Response:
    integrity = integrity_from(ctx.request.headers, trailer_names(ctx.request))
    config = parse_config(parse(await read_document(ctx.request, ctx.auth.payload, integrity, MAX_XML_BODY)))
    await ctx.storage.get_bucket(ep.bucket)
    unknown = [rule.arn for rule in config.rules if not await ctx.destination_exists(rule.kind, rule.arn)]
    if unknown:
        raise InvalidArgument(
            "Unable to validate the following destination configurations",
            ArgumentName=unknown[0], ArgumentValue="The destination does not exist",
        )
    await ctx.storage.put_notification_config(ep.bucket, config)
    return Response(200)


async def get_bucket_notification(ctx: S3Context, bucket: str) -> Response:
    return Response(200, [XML], render_config(await ctx.storage.get_notification_config(bucket)))
