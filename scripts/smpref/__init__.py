"""PyTorch reference of segmentation_models.pytorch's Unet / UnetPlusPlus and their ImageNet
encoders (written from SMP's and torchvision's code; SMP itself is not a dependency).

Modules: `weights` (the deterministic weight formula shared with the TypeScript tests),
`encoders`, `models`, `st_format` (safetensors writer/reader), `analysis` (counts, used keys).
"""
