"""``python -m core``: the command line (see ``core.cli``).

Commands that train load BigARTM, whose generated code needs the pure-Python protobuf; it is
chosen here, before anything imports protobuf (the web process keeps the fast default).
"""

import os
import sys

os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"

from core.cli import main

sys.exit(main())
