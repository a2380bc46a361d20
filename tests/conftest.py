import os
import pathlib
import sys

# tests import shared helpers as `support`
sys.path.insert(0, str(pathlib.Path(__file__).parent))
# jsii warns about Node versions CDK will stop supporting; synthesis does not depend on it
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
