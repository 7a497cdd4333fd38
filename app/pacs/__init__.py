"""Exchange with the hospital PACS: DICOMweb query and retrieve from a configured source,
a DICOM storage SCP (``mammoread receive``), and reads sent back as DICOM SR and presentation
states. Every study arriving here goes through the one import path (``app.imaging.importing``)."""
