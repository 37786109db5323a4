"""Gatys neural style transfer on the shared backbones."""
