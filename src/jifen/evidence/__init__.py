"""Evidence photos (证据照片) of records.

Invariants:
- what is stored is what was checked: a JPEG, PNG or WebP image (decided by its bytes,
  never by the declared type), within the byte and pixel limits, re-encoded without its
  metadata (EXIF, with a phone's GPS position, is never kept);
- the stored bytes are named by their SHA-256: the same photo uploaded twice in a village
  is one row and one stored object, so a retried upload answers the same photo;
- a photo belongs to one village; a record cites only photos of its own village;
- a photo is served only to whom may read a record citing it (or, before any record
  cites it, to whom uploaded it); everyone else gets the 404 of a photo that does not
  exist.
"""
