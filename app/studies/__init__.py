"""Reader studies: a study's ratings analysed with the MRMC statistics of ``app.stats`` (today:
a ratings table read elsewhere, uploaded in the long layout; next: MammoRead's own studies)."""
