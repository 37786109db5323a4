"""U-Net semantic segmentation on the shared backbones."""

from suite.common.nn.saving import register_serializable_modules

# Saved U-Nets name these modules' classes; load_model imports them (lazily) before loading.
register_serializable_modules("suite.unet.model", "suite.unet.losses", "suite.unet.metrics", "suite.unet.selfie")
