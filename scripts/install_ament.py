"""Make the venv an ament prefix for ``ovnerf_ros``, laid out as colcon (--symlink-install) would.

    .venv/bin/python scripts/install_ament.py [PREFIX]        (default: the running venv, sys.prefix)

``pip install -e .`` installs neither ``setup.py``'s ``data_files`` nor scripts under
``lib/<package>``, so ``ros2 launch ovnerf_ros mapping.launch.py`` / ``ros2 run`` could not find
the package. This writes, under PREFIX:

    share/ament_index/resource_index/packages/ovnerf_ros     the ament index marker
    share/ovnerf_ros/package.xml, launch/, config/           symlinks into this checkout
    lib/ovnerf_ros/<console script>                          one launcher per entry point
    share/ovnerf_ros/local_setup.sh                          exports AMENT_PREFIX_PATH=PREFIX

(``ovnerf_msgs``' marker comes from its own cmake install, scripts/build_msgs.sh.) The symlinks
keep an editable checkout current; re-running is idempotent. Use the prefix with
``export AMENT_PREFIX_PATH=PREFIX`` (also appended to ``PREFIX/bin/activate``).
"""
from __future__ import annotations

import sys
from importlib.metadata import distribution
from pathlib import Path

PACKAGE = "ovnerf_ros"
ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = """#!{python}
# ament launcher for the console script '{name}' (written by scripts/install_ament.py)
import sys
from {module} import {attr}
if __name__ == "__main__":
    sys.exit({attr}())
"""
ACTIVATE_MARK = "# ovnerf_ros: ament prefix (scripts/install_ament.py)"


def _symlink(target: Path, link: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        raise SystemExit(f"install_ament: {link} is a real directory; remove it first")
    link.symlink_to(target)


def install(prefix: Path) -> list[str]:
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    (index / PACKAGE).write_text((ROOT / "resource" / PACKAGE).read_text())
    share = prefix / "share" / PACKAGE
    share.mkdir(parents=True, exist_ok=True)
    for name in ("package.xml", "launch", "config"):
        _symlink(ROOT / name, share / name)
    (share / "local_setup.sh").write_text(
        f'export AMENT_PREFIX_PATH="{prefix}${{AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}}"\n')
    lib = prefix / "lib" / PACKAGE
    lib.mkdir(parents=True, exist_ok=True)
    python = prefix / "bin" / "python"
    written = []
    for ep in distribution(PACKAGE).entry_points.select(group="console_scripts"):
        module, attr = ep.value.split(":")
        path = lib / ep.name
        path.write_text(LAUNCHER.format(python=python, name=ep.name, module=module, attr=attr))
        path.chmod(0o755)
        written.append(ep.name)
    activate = prefix / "bin" / "activate"
    if activate.is_file() and ACTIVATE_MARK not in activate.read_text():
        with activate.open("a") as f:
            f.write(f'\n{ACTIVATE_MARK}\nexport AMENT_PREFIX_PATH="{prefix}${{AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}}"\n')
    return written


def main() -> int:
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix).resolve()
    names = install(prefix)
    print(f"install_ament: {PACKAGE} in ament prefix {prefix} (share/{PACKAGE} -> {ROOT}; "
          f"lib/{PACKAGE}: {', '.join(sorted(names))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
