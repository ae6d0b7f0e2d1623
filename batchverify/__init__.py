"""batchverify: bulk mobile-number status checks through Tencent Cloud FaceID MobileStatus."""

__version__ = "0.1.0"

__all__ = ["__version__"]
