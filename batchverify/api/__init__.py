"""The Python API: ``verify_file`` / ``averify_file`` for files, ``verify_dataframe`` /
``averify_dataframe`` for pandas, and the ``Simulator`` to try them on. A front end like the
command line and the upload server: it fills one ``Options`` value and runs the engine's job."""

from batchverify.api.files import averify_file, verify_file
from batchverify.api.frame import averify_dataframe, verify_dataframe
from batchverify.api.simulator import Simulator

__all__ = ["Simulator", "averify_dataframe", "averify_file", "verify_dataframe", "verify_file"]
