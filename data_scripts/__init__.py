"""Command-line programs that fetch or make the book's data sets.

Each module runs as ``python -m data_scripts.<name> --help`` and is importable:

- ``download_imagenette``: Imagenette (10 ImageNet classes) from fast.ai's archive or a copy;
- ``download_flowers17``: the Oxford 17 flowers from the VGG archive or a copy, split into
  train/val class folders;
- ``make_mini_imagenet``: the 16-class mini-ImageNet from a local ImageNet-style folder;
- ``make_offline_dataset``: a procedurally drawn set for machines without real images;
- ``fetch`` (no command): download an archive, resuming an interrupted transfer, and check
  it against the published checksums;
- ``archives`` (no command): obtain and check an archive (``fetch``, or a local copy),
  extract it safely and install it atomically, shared by the two downloaders;
- ``folders`` (no command): build a folder beside its target and swap it in whole, used by
  every script;
- ``cli`` (no command): the scripts' parser style and the downloaders' shared options.

    python -m data_scripts.download_imagenette --variant 160 [--archive PATH --md5 HEX]
    python -m data_scripts.download_flowers17 [--archive PATH --md5 HEX] [--seed 2012 --val-per-class 16]
    python -m data_scripts.make_mini_imagenet --source <ImageNet-style folder>
    python -m data_scripts.make_offline_dataset

They install into the folder the book reads, ``helpers.paths.data_root()``:
``$ALEXNET_DATA``, else ``<repo>/data``; ``--data`` (``--out``) chooses another.
"""
