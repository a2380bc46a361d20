import pathlib
import sys

# tests import shared helpers as `support`
sys.path.insert(0, str(pathlib.Path(__file__).parent))
