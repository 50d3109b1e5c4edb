import sys
from pathlib import Path

# Make tests/servers.py importable as `servers` from every test folder.
sys.path.insert(0, str(Path(__file__).parent))
