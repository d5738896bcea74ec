"""Evidence attachments: photos, videos, voice messages and files a citizen sent, kept encrypted.

The webhook only queues a fetch job (ids only); the fetcher downloads from Zalo's CDN under the
policy in :mod:`tipline.evidence.policy`, stores the bytes in S3 with SSE-KMS bound to the tip, and
writes a chain-of-custody record; officers read it through a short-lived link, audited.
"""
