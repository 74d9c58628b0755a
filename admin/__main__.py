"""``python -m admin``: the admin panel's account commands (see ``admin.cli``)."""

import sys

from admin.cli import main

sys.exit(main())
