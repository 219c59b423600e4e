"""Plugin identity, read from metadata.txt so the version lives in one place."""

from configparser import ConfigParser
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent


def _read_metadata() -> dict:
    parser = ConfigParser(interpolation=None, inline_comment_prefixes=None, comment_prefixes=(";", "#"))
    parser.read(PLUGIN_DIR / "metadata.txt", encoding="utf-8")
    return dict(parser["general"])


METADATA = _read_metadata()
__title__ = METADATA["name"]
__version__ = METADATA["version"]
PLUGIN_NAME = __title__
LOG_TAG = __title__
ICON_PATH = PLUGIN_DIR / METADATA["icon"]
