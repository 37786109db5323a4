"""U-Net semantic segmentation on the shared backbones."""
