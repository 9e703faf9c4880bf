import os
import shutil

# Debian's Chromium (apt-get install chromium); never a browser downloaded by a tool.
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
