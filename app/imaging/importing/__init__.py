"""The import, by topic; ``app.imaging.importer`` is its one entry point (see its docstring).

``sources``: the files read (uploads, zip members) and the checks on their bytes;
``preparing``: one file decoded, checked, pseudonymised, before anything is written;
``storing``: one prepared image written, files then rows; ``view_flags``: a study's missing
and duplicate views derived again; ``one_file``: one file's import, whole or not at all;
``report``: outcomes and the batch's report; ``batch``: an import batch and its lease.
"""
