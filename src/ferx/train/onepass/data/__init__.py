"""Training data of the one-pass detector: seeded mosaics of real faces with exact boxes and labels.

Two face sources (folders given in the training config's `data` section):
  * lfw-expressions photos. The face box is the two-stage pipeline's (`ferx.Analyzer`, BlazeFace +
    mesh confirmation) on the photo at full size, computed once and cached (`boxes.py`);
    photos where it finds no face or several are left out. Label: the dataset's `emotion` column.
    Split: `ferx.data.readers.identity_split` (identities hashed 80/10/10), so train, val and test
    never share a person.
  * FER+ 48×48 faces, majority-vote label, split by FER+'s official Train/Valid/Test folders. FER+
    has no identity information, so its splits cannot be checked for identity overlap. Its face
    box is a fixed box inside the 48×48 frame, measured once as the median pipeline box on
    upscaled FER+ test faces (cached with the lfw boxes), so both sources are boxed alike.

The package, by job:
  boxes.py      the box cache: runs the two-stage pipeline over the photos (once)
  negatives.py  face-free photographs (scikit-image's bundled ones) for hard negatives
  mosaics.py    `MosaicConfig` and the mosaic builder: scenes and paste mosaics, one split at a time
  store.py      a split stored once as uint8 images + manifest, under a folder named by the config's hash
  __main__.py   `python -m ferx.train.onepass.data boxes|generate CONFIG`
"""
