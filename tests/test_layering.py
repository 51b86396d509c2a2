"""Lower layers never import higher ones: the database layer knows no domain.

Checked in a fresh interpreter, so what other tests imported cannot hide an upward import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import agentkeep

PACKAGE_DIR = Path(agentkeep.__file__).parent
# Everything above the database layer: every package beside it (the domains, the API, the CLI),
# and the modules that gather the domains.
HIGHER_PACKAGES = sorted(
    path.name for path in PACKAGE_DIR.iterdir() if (path / "__init__.py").exists() and path.name != "database"
)
GATHERING_MODULES = ["agentkeep.keep", "agentkeep.schema"]

IMPORT_EVERY_DATABASE_MODULE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import agentkeep.database as database

    names = [database.__name__]
    for module in pkgutil.walk_packages(database.__path__, prefix="agentkeep.database."):
        names.append(module.name)
    for name in names:
        if ".migrations.versions" in name or name.endswith(".migrations.env"):
            continue  # run by Alembic, not imported
        importlib.import_module(name)
    print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
    """
)


def _modules_loaded_by(code: str) -> dict[str, list[str]]:
    # Not `import agentkeep`: its __init__ gathers the SDK (Keep), which is meant to import all.
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_higher_packages_are_found() -> None:
    assert {"users", "messages", "conversations", "api", "cli"} <= set(HIGHER_PACKAGES)
    assert "database" not in HIGHER_PACKAGES


def test_importing_every_database_module_loads_no_domain() -> None:
    found = _modules_loaded_by(IMPORT_EVERY_DATABASE_MODULE)
    assert {"agentkeep.database.engine", "agentkeep.database.doctor", "agentkeep.database.migrate"} <= set(
        found["imported"]
    )
    higher = [
        name
        for name in found["loaded"]
        if name in GATHERING_MODULES
        or any(
            name == f"agentkeep.{package}" or name.startswith(f"agentkeep.{package}.")
            for package in HIGHER_PACKAGES
        )
    ]
    assert higher == [], f"the database layer imports higher layers: {higher}"


def test_the_check_would_see_a_domain_import() -> None:
    found = _modules_loaded_by(
        "import json, sys, agentkeep.schema; print(json.dumps({'loaded': sorted(sys.modules)}))"
    )
    assert "agentkeep.messages.tables" in found["loaded"]
