"""The Lambda REST API (boto3's `lambda` client), served on the S3 port by SigV4 service name."""
