"""One sync in a process of its own, as `fivetran debug` runs it but without its start-up cost, so a test can
SIGKILL it: python -m testkit.sync_once PROJECT_DIR (from the repository root). Reads PROJECT_DIR/configuration.json
and the state the last run saved (PROJECT_DIR/files/state.json)."""
import json
import sys
from pathlib import Path

from testkit.sync import run_sync

project = Path(sys.argv[1])
state_file = project / "files" / "state.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {}
run_sync(project, json.loads((project / "configuration.json").read_text()), state)
