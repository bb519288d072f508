"""Authentication: pure SigV4 verification, aws-chunked decoding, POST policies (no HTTP here).

``authenticate.authenticate`` is the one decision for header and presigned requests;
``post_policy`` covers browser form uploads; ``chunked`` decodes streaming bodies.
"""
