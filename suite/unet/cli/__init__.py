"""The U-Net commands: train, evaluate, segment, export. Each module registers its commands on ``suite.cli.main``."""
