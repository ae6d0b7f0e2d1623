"""Talking to Tencent Cloud: the signed MobileStatus client, credentials, sensitive-data encryption."""
