import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while torch and seqlab still import (seconds on a busy machine): no traceback
    print("seqlab: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
