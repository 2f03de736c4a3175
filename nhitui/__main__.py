import sys

from nhitui.cli import main

sys.exit(main())
