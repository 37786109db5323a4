"""Keras 3 computer-vision suite: shared backbones, U-Net segmentation, Gatys style transfer."""

__version__ = "0.1.0"
